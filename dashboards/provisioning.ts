/**
 * Grafana provisioning files (https://grafana.com/docs/grafana/latest/administration/provisioning/):
 * an InfluxDB data source in InfluxQL mode (works with InfluxDB 1.x, and 2.x/3.x through their v1
 * compatibility API) and a file dashboard provider. Written by hand as plain YAML: a fixed shape,
 * no dependency needed.
 */

export interface ProvisioningOptions {
  datasourceUid: string
  influxUrl: string
  database: string
  /** Where Grafana will find the dashboard JSON files (a path inside the Grafana host or container). */
  dashboardsPath: string
}

/** A YAML double-quoted scalar (JSON string syntax is valid YAML). */
const q = (s: string) => JSON.stringify(s)

export function datasourceYaml(o: ProvisioningOptions): string {
  return `# Written by \`forewarn dashboards\`. InfluxQL works with InfluxDB 1.x, and with 2.x/3.x via their
# v1 compatibility API (map the bucket to a database with a DBRP mapping, and pass a token).
apiVersion: 1
datasources:
  - name: Forewarn InfluxDB
    uid: ${q(o.datasourceUid)}
    type: influxdb
    access: proxy
    url: ${q(o.influxUrl)}
    isDefault: false
    editable: false
    jsonData:
      version: InfluxQL
      dbName: ${q(o.database)}
      httpMode: GET
      timeInterval: "10s"
    # For InfluxDB 2.x/3.x add a token header, e.g.:
    #   jsonData.httpHeaderName1: Authorization
    #   secureJsonData.httpHeaderValue1: "Token $INFLUX_TOKEN"
    # For InfluxDB 1.x with authentication: user, and secureJsonData.password.
`
}

export function dashboardProviderYaml(o: ProvisioningOptions): string {
  return `# Written by \`forewarn dashboards\`: loads the Forewarn dashboards into the folder "Forewarn".
apiVersion: 1
providers:
  - name: forewarn
    orgId: 1
    folder: Forewarn
    folderUid: forewarn
    type: file
    disableDeletion: false
    allowUiUpdates: false
    updateIntervalSeconds: 60
    options:
      path: ${q(o.dashboardsPath)}
      foldersFromFilesStructure: false
`
}
