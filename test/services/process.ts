/** The server plumbing lives in servers/process.ts (product code); the tests use the same. */
export * from '../../servers/process.ts'
