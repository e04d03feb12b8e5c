/**
 * The appliance catalogue as data: metrics, components, fault modes, spare parts and which
 * components an extended warranty can cover. Simulators, detectors, tickets and dashboards all
 * read it, so a new appliance type is one entry here.
 */
export type ApplianceType = 'refrigerator' | 'air_conditioner' | 'washing_machine' | 'water_heater'
export const applianceTypes: readonly ApplianceType[] = ['refrigerator', 'air_conditioner', 'washing_machine', 'water_heater']

export interface MetricSpec {
  name: string
  unit: string
  /** Range a healthy appliance stays within in normal use. */
  normal: readonly [number, number]
  description: string
}

export interface ComponentSpec {
  id: string
  name: string
  /** Whether an extended warranty can be bought for this component alone. */
  extendedWarranty: boolean
}

export interface SparePart {
  partNumber: string
  name: string
}

/** How a fault shows in the signals: a feature (metric or derived) drifting one way. */
export interface Symptom {
  feature: string
  direction: 'up' | 'down'
  /**
   * How far the feature has moved from the appliance's own baseline when the component fails
   * functionally (engineering limit): in feature units, or as a fraction of the baseline when
   * `relative`. Detectors measure degradation progress against it; simulators degrade toward it.
   */
  failureChange?: number
  relative?: boolean
}

export type FaultImpact = 'high' | 'medium' | 'low'

export interface FaultMode {
  code: string
  component: string
  name: string
  /** Plain-language description for the technician and the appliance owner. */
  description: string
  symptoms: readonly Symptom[]
  parts: readonly SparePart[]
  /** What a failure means for the household (a refrigerator losing cooling risks food). */
  impact: FaultImpact
}

/** Error codes the firmware itself publishes on `appliances/{id}/events`. */
export interface FirmwareCode {
  code: string
  component: string
  meaning: string
  severity: 'warning' | 'critical'
  parts: readonly SparePart[]
}

export interface ApplianceSpec {
  type: ApplianceType
  name: string
  /** Seconds between two telemetry readings from a healthy, connected appliance. */
  reportingIntervalS: number
  metrics: readonly MetricSpec[]
  components: readonly ComponentSpec[]
  faults: readonly FaultMode[]
  firmwareCodes: readonly FirmwareCode[]
  models: readonly string[]
}

const refrigerator: ApplianceSpec = {
  type: 'refrigerator',
  name: 'Refrigerator',
  reportingIntervalS: 60,
  models: ['FR-300', 'FR-450X', 'FR-600 Duo'],
  metrics: [
    { name: 'cabinet_temp_c', unit: '°C', normal: [1, 7], description: 'fresh-food cabinet temperature' },
    { name: 'freezer_temp_c', unit: '°C', normal: [-24, -15], description: 'freezer temperature' },
    { name: 'evaporator_temp_c', unit: '°C', normal: [-32, -5], description: 'evaporator coil temperature' },
    { name: 'condenser_temp_c', unit: '°C', normal: [20, 55], description: 'condenser temperature' },
    { name: 'compressor_current_a', unit: 'A', normal: [0, 1.6], description: 'compressor current' },
    { name: 'compressor_on', unit: 'bool', normal: [0, 1], description: 'compressor running (1) or off (0)' },
    { name: 'door_open', unit: 'bool', normal: [0, 1], description: 'door open (1) or closed (0)' },
    { name: 'ambient_temp_c', unit: '°C', normal: [10, 38], description: 'room temperature' },
    { name: 'setpoint_c', unit: '°C', normal: [1, 8], description: 'cabinet set-point chosen by the user' },
  ],
  components: [
    { id: 'compressor', name: 'Compressor', extendedWarranty: true },
    { id: 'sealed_system', name: 'Sealed refrigerant system', extendedWarranty: true },
    { id: 'condenser_fan', name: 'Condenser fan', extendedWarranty: false },
    { id: 'door_seal', name: 'Door seal', extendedWarranty: false },
    { id: 'control_board', name: 'Control board', extendedWarranty: false },
  ],
  faults: [
    {
      code: 'REF-LEAK', component: 'sealed_system', name: 'Refrigerant leak', impact: 'high',
      description: 'Refrigerant is escaping: the compressor runs longer and longer and the cabinet warms.',
      symptoms: [{ feature: 'duty_cycle', direction: 'up', failureChange: 0.8, relative: true }, { feature: 'evaporator_temp_c', direction: 'up', failureChange: 8 }],
      parts: [{ partNumber: 'RF-SS-1120', name: 'Refrigerant recharge kit R600a' }, { partNumber: 'RF-SS-1134', name: 'Evaporator coil' }],
    },
    {
      code: 'REF-CFAN', component: 'condenser_fan', name: 'Condenser fan failure', impact: 'high',
      description: 'The condenser fan is failing: heat is not carried away, the condenser runs hot.',
      symptoms: [{ feature: 'condenser_temp_c', direction: 'up', failureChange: 14 }, { feature: 'running_current_a', direction: 'up', failureChange: 0.28, relative: true }],
      parts: [{ partNumber: 'RF-CF-2210', name: 'Condenser fan motor 12 V' }],
    },
    {
      code: 'REF-DSEAL', component: 'door_seal', name: 'Door seal wear', impact: 'medium',
      description: 'The door gasket no longer seals: warm air leaks in and the compressor cycles more.',
      symptoms: [{ feature: 'duty_cycle', direction: 'up', failureChange: 0.8, relative: true }, { feature: 'cabinet_temp_c', direction: 'up', failureChange: 2 }],
      parts: [{ partNumber: 'RF-DS-3301', name: 'Door gasket, fresh-food compartment' }],
    },
    {
      code: 'REF-CMPW', component: 'compressor', name: 'Compressor wear', impact: 'high',
      description: 'The compressor is wearing out: it draws more current for the same cooling.',
      symptoms: [{ feature: 'running_current_a', direction: 'up', failureChange: 0.3, relative: true }],
      parts: [{ partNumber: 'RF-CP-4410', name: 'Compressor 0.25 HP R600a' }, { partNumber: 'RF-CP-4420', name: 'Start relay and overload protector' }],
    },
  ],
  firmwareCodes: [
    { code: 'E1', component: 'control_board', meaning: 'Cabinet temperature sensor open or shorted', severity: 'warning', parts: [{ partNumber: 'RF-CB-5101', name: 'Cabinet NTC sensor' }] },
    { code: 'E5', component: 'sealed_system', meaning: 'Defrost did not complete', severity: 'warning', parts: [{ partNumber: 'RF-SS-1150', name: 'Defrost heater' }] },
    { code: 'E7', component: 'compressor', meaning: 'Compressor failed to start', severity: 'critical', parts: [{ partNumber: 'RF-CP-4420', name: 'Start relay and overload protector' }] },
  ],
}

const airConditioner: ApplianceSpec = {
  type: 'air_conditioner',
  name: 'Air conditioner',
  reportingIntervalS: 60,
  models: ['AC-9K', 'AC-12K Inverter', 'AC-18K Inverter'],
  metrics: [
    { name: 'supply_air_temp_c', unit: '°C', normal: [8, 30], description: 'air temperature leaving the indoor unit' },
    { name: 'return_air_temp_c', unit: '°C', normal: [16, 34], description: 'room air entering the indoor unit' },
    { name: 'outdoor_temp_c', unit: '°C', normal: [-10, 45], description: 'outdoor temperature' },
    { name: 'compressor_current_a', unit: 'A', normal: [0, 9], description: 'compressor current' },
    { name: 'compressor_on', unit: 'bool', normal: [0, 1], description: 'compressor running (1) or off (0)' },
    { name: 'refrigerant_pressure_bar', unit: 'bar', normal: [6, 14], description: 'suction-side refrigerant pressure' },
    { name: 'filter_dp_pa', unit: 'Pa', normal: [20, 90], description: 'pressure drop across the air filter' },
    { name: 'indoor_fan_rpm', unit: 'rpm', normal: [0, 1400], description: 'indoor fan speed' },
    { name: 'setpoint_c', unit: '°C', normal: [16, 30], description: 'room set-point chosen by the user' },
  ],
  components: [
    { id: 'compressor', name: 'Compressor', extendedWarranty: true },
    { id: 'refrigerant_circuit', name: 'Refrigerant circuit', extendedWarranty: true },
    { id: 'air_filter', name: 'Air filter', extendedWarranty: false },
    { id: 'outdoor_fan', name: 'Outdoor fan', extendedWarranty: false },
    { id: 'control_board', name: 'Control board', extendedWarranty: false },
  ],
  faults: [
    {
      code: 'AC-LEAK', component: 'refrigerant_circuit', name: 'Refrigerant leak', impact: 'medium',
      description: 'Refrigerant is escaping: suction pressure falls and the unit cools less.',
      symptoms: [{ feature: 'refrigerant_pressure_bar', direction: 'down', failureChange: 4 }, { feature: 'delta_t_c', direction: 'down', failureChange: 5 }, { feature: 'cooling_capacity_c_per_h', direction: 'down', failureChange: 0.4, relative: true }],
      parts: [{ partNumber: 'AC-RC-1210', name: 'Refrigerant R32 recharge and leak-seal kit' }],
    },
    {
      code: 'AC-FILTER', component: 'air_filter', name: 'Clogged air filter', impact: 'low',
      description: 'The air filter is clogging: airflow drops and the pressure across the filter rises.',
      symptoms: [{ feature: 'filter_dp_pa', direction: 'up', failureChange: 80 }],
      parts: [{ partNumber: 'AC-AF-2010', name: 'Indoor unit air filter set' }],
    },
    {
      code: 'AC-OFAN', component: 'outdoor_fan', name: 'Outdoor fan failure', impact: 'medium',
      description: 'The outdoor fan is failing: the compressor works against high head pressure and draws more current.',
      symptoms: [{ feature: 'running_current_a', direction: 'up', failureChange: 0.3, relative: true }],
      parts: [{ partNumber: 'AC-OF-3310', name: 'Outdoor fan motor' }, { partNumber: 'AC-OF-3320', name: 'Fan capacitor 2.5 µF' }],
    },
    {
      code: 'AC-CMPW', component: 'compressor', name: 'Compressor wear', impact: 'medium',
      description: 'The compressor is wearing: it removes less heat per hour, so it runs longer for the same cooling.',
      symptoms: [{ feature: 'cooling_capacity_c_per_h', direction: 'down', failureChange: 0.42, relative: true }],
      parts: [{ partNumber: 'AC-CP-4410', name: 'Rotary compressor 12K' }],
    },
  ],
  firmwareCodes: [
    { code: 'E4', component: 'refrigerant_circuit', meaning: 'High-pressure protection tripped', severity: 'critical', parts: [{ partNumber: 'AC-RC-1230', name: 'High-pressure switch' }] },
    { code: 'F1', component: 'control_board', meaning: 'Indoor temperature sensor fault', severity: 'warning', parts: [{ partNumber: 'AC-CB-5110', name: 'Room NTC sensor' }] },
  ],
}

const washingMachine: ApplianceSpec = {
  type: 'washing_machine',
  name: 'Washing machine',
  reportingIntervalS: 60,
  models: ['WM-7', 'WM-8 SteamCare', 'WM-10 Pro'],
  metrics: [
    { name: 'running', unit: 'bool', normal: [0, 1], description: 'a programme is running (1) or not (0)' },
    { name: 'phase', unit: 'enum', normal: [0, 5], description: '0 idle, 1 fill, 2 heat, 3 wash, 4 drain, 5 spin' },
    { name: 'water_level_l', unit: 'L', normal: [0, 20], description: 'water in the drum' },
    { name: 'water_temp_c', unit: '°C', normal: [5, 95], description: 'water temperature' },
    { name: 'heater_on', unit: 'bool', normal: [0, 1], description: 'heating element on (1) or off (0)' },
    { name: 'motor_current_a', unit: 'A', normal: [0, 3], description: 'drum motor current' },
    { name: 'drum_rpm', unit: 'rpm', normal: [0, 1400], description: 'drum speed' },
    { name: 'vibration_mm_s', unit: 'mm/s', normal: [0, 12], description: 'cabinet vibration velocity' },
    { name: 'load_kg', unit: 'kg', normal: [0, 10], description: 'estimated laundry load' },
  ],
  components: [
    { id: 'drum_bearing', name: 'Drum bearings', extendedWarranty: false },
    { id: 'drain_pump', name: 'Drain pump', extendedWarranty: false },
    { id: 'inlet_valve', name: 'Water inlet valve', extendedWarranty: false },
    { id: 'heating_element', name: 'Heating element', extendedWarranty: false },
    { id: 'motor', name: 'Drum motor', extendedWarranty: true },
    { id: 'control_board', name: 'Control board', extendedWarranty: false },
  ],
  faults: [
    {
      code: 'WM-BEAR', component: 'drum_bearing', name: 'Drum bearing wear', impact: 'medium',
      description: 'The drum bearings are wearing: vibration during spin keeps rising.',
      symptoms: [{ feature: 'spin_vibration_mm_s', direction: 'up', failureChange: 8 }],
      parts: [{ partNumber: 'WM-DB-1101', name: 'Drum bearing and seal kit' }],
    },
    {
      code: 'WM-DRAIN', component: 'drain_pump', name: 'Drain pump clog', impact: 'medium',
      description: 'The drain pump or filter is clogging: draining takes longer every wash.',
      symptoms: [{ feature: 'drain_time_s', direction: 'up', failureChange: 1.5, relative: true }],
      parts: [{ partNumber: 'WM-DP-2201', name: 'Drain pump 30 W' }, { partNumber: 'WM-DP-2210', name: 'Pump filter' }],
    },
    {
      code: 'WM-INLET', component: 'inlet_valve', name: 'Inlet valve clog', impact: 'low',
      description: 'The water inlet valve or its screen is clogging: filling takes longer every wash.',
      symptoms: [{ feature: 'fill_time_s', direction: 'up', failureChange: 1.5, relative: true }],
      parts: [{ partNumber: 'WM-IV-3301', name: 'Double inlet valve' }],
    },
    {
      code: 'WM-HEAT', component: 'heating_element', name: 'Heating element scaling', impact: 'low',
      description: 'Limescale is building up on the heating element: heating the water takes longer.',
      symptoms: [{ feature: 'heating_time_s', direction: 'up', failureChange: 1.0, relative: true }],
      parts: [{ partNumber: 'WM-HE-4401', name: 'Heating element 2000 W' }],
    },
  ],
  firmwareCodes: [
    { code: 'E21', component: 'drain_pump', meaning: 'Drain timeout', severity: 'critical', parts: [{ partNumber: 'WM-DP-2201', name: 'Drain pump 30 W' }] },
    { code: 'E10', component: 'inlet_valve', meaning: 'Fill timeout', severity: 'warning', parts: [{ partNumber: 'WM-IV-3301', name: 'Double inlet valve' }] },
  ],
}

const waterHeater: ApplianceSpec = {
  type: 'water_heater',
  name: 'Water heater',
  reportingIntervalS: 60,
  models: ['WH-50', 'WH-80 Eco', 'WH-100 Eco'],
  metrics: [
    { name: 'tank_temp_c', unit: '°C', normal: [35, 75], description: 'water temperature in the tank' },
    { name: 'inlet_temp_c', unit: '°C', normal: [4, 25], description: 'cold-water inlet temperature' },
    { name: 'heater_on', unit: 'bool', normal: [0, 1], description: 'heating element on (1) or off (0)' },
    { name: 'heater_current_a', unit: 'A', normal: [0, 10], description: 'heating element current' },
    { name: 'flow_l_min', unit: 'L/min', normal: [0, 15], description: 'hot-water draw' },
    { name: 'anode_mv', unit: 'mV', normal: [300, 900], description: 'sacrificial anode protection potential' },
    { name: 'setpoint_c', unit: '°C', normal: [40, 75], description: 'tank set-point chosen by the user' },
  ],
  components: [
    { id: 'heating_element', name: 'Heating element', extendedWarranty: true },
    { id: 'tank', name: 'Inner tank', extendedWarranty: true },
    { id: 'anode', name: 'Sacrificial anode', extendedWarranty: false },
    { id: 'thermostat', name: 'Thermostat', extendedWarranty: false },
    { id: 'control_board', name: 'Control board', extendedWarranty: false },
  ],
  faults: [
    {
      code: 'WH-SCALE', component: 'heating_element', name: 'Heating element scaling', impact: 'low',
      description: 'Limescale is building up on the element: the tank heats more slowly.',
      symptoms: [{ feature: 'heat_rate_c_per_h', direction: 'down', failureChange: 0.45, relative: true }],
      parts: [{ partNumber: 'WH-HE-1101', name: 'Heating element 2 kW with gasket' }],
    },
    {
      code: 'WH-ELEM', component: 'heating_element', name: 'Heating element failure', impact: 'high',
      description: 'The heating element is breaking down: it draws less current and heats less.',
      symptoms: [{ feature: 'running_current_a', direction: 'down', failureChange: 0.45, relative: true }, { feature: 'heat_rate_c_per_h', direction: 'down', failureChange: 0.7, relative: true }],
      parts: [{ partNumber: 'WH-HE-1101', name: 'Heating element 2 kW with gasket' }],
    },
    {
      code: 'WH-ANODE', component: 'anode', name: 'Anode depletion', impact: 'medium',
      description: 'The sacrificial anode is used up: the tank is no longer protected from corrosion.',
      symptoms: [{ feature: 'anode_mv', direction: 'down', failureChange: 380 }],
      parts: [{ partNumber: 'WH-AN-2201', name: 'Magnesium anode rod' }],
    },
    {
      code: 'WH-THERM', component: 'thermostat', name: 'Thermostat drift', impact: 'medium',
      description: 'The thermostat is drifting: the tank overshoots its set-point more and more.',
      symptoms: [{ feature: 'overshoot_c', direction: 'up', failureChange: 6 }],
      parts: [{ partNumber: 'WH-TS-3301', name: 'Thermostat with thermal cut-out' }],
    },
  ],
  firmwareCodes: [
    { code: 'E3', component: 'thermostat', meaning: 'Over-temperature cut-out tripped', severity: 'critical', parts: [{ partNumber: 'WH-TS-3301', name: 'Thermostat with thermal cut-out' }] },
    { code: 'E6', component: 'control_board', meaning: 'Tank sensor fault', severity: 'warning', parts: [{ partNumber: 'WH-CB-5101', name: 'Tank NTC sensor' }] },
  ],
}

export const catalogue: Readonly<Record<ApplianceType, ApplianceSpec>> = {
  refrigerator,
  air_conditioner: airConditioner,
  washing_machine: washingMachine,
  water_heater: waterHeater,
}

export function isApplianceType(x: string): x is ApplianceType {
  return Object.hasOwn(catalogue, x)
}

export function applianceSpec(type: ApplianceType): ApplianceSpec {
  return catalogue[type]
}

/** Precomputed per type at start-up, so the hot path does a set look-up, not a scan. */
export const metricNames: Readonly<Record<ApplianceType, ReadonlySet<string>>> = Object.fromEntries(
  applianceTypes.map((t) => [t, new Set(catalogue[t].metrics.map((m) => m.name))]),
) as unknown as Record<ApplianceType, ReadonlySet<string>>

export function findFault(type: ApplianceType, code: string): FaultMode | FirmwareCode | undefined {
  const spec = catalogue[type]
  return spec.faults.find((f) => f.code === code) ?? spec.firmwareCodes.find((f) => f.code === code)
}
