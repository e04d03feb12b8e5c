/** Pieces every route schema shares: the error answers and the bearer security requirement. */
import Type from 'typebox'
import { ErrorSchema } from '../schemas.ts'

export const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 429: ErrorSchema }
export const bearer = [{ bearer: [] }]
export const IdParam = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) })
