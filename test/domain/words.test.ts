import { describe, expect, it } from 'vitest'
import { evidenceWords, featureLabel, remainingLifeWords, valueWords } from '../../domain/words.ts'

describe('warnings in plain words', () => {
  it('rounds remaining life to what a person plans with', () => {
    expect(remainingLifeWords({ medianHours: 68.6, lowHours: 66, highHours: 80 })).toBe('in about 3 days')
    expect(remainingLifeWords({ medianHours: 96, lowHours: 72, highHours: 120 })).toBe('in 3 to 5 days')
    expect(remainingLifeWords({ medianHours: 20, lowHours: 10, highHours: 30 })).toBe('in 10 to 30 hours')
    expect(remainingLifeWords({ medianHours: 5, lowHours: 4.6, highHours: 5.4 })).toBe('in about 5 hours')
    expect(remainingLifeWords({ medianHours: 0.2, lowHours: 0, highHours: 0.5 })).toBe('within the hour')
  })

  it('names metrics by their catalogue description with units, derived features too', () => {
    expect(featureLabel('refrigerator', 'cabinet_temp_c')).toEqual({ description: 'fresh-food cabinet temperature', unit: '°C' })
    expect(featureLabel('refrigerator', 'door_open')).toEqual({ description: 'door open (1) or closed (0)', unit: '' })
    expect(featureLabel('refrigerator', 'duty_cycle')).toEqual({ description: 'share of time the compressor runs', unit: '%' })
    expect(featureLabel('water_heater', 'some_new_flow_l_min')).toEqual({ description: 'some new flow', unit: 'L/min' })
  })

  it('writes evidence as a sentence with units and sensible rounding', () => {
    expect(evidenceWords('air_conditioner', { feature: 'filter_dp_pa', value: 53.2871, baseline: 32.5, deviation: 18.53, slopePerDay: 1, detail: '' }))
      .toBe('Pressure drop across the air filter rose from 32.5 Pa to 53.3 Pa')
    expect(evidenceWords('refrigerator', { feature: 'duty_cycle', value: 0.61, baseline: 0.4, deviation: 5, slopePerDay: null, detail: '' }))
      .toBe('Share of time the compressor runs rose from 40 % to 61 %')
    expect(valueWords(1234.5, 'rpm')).toBe('1235 rpm')
    expect(valueWords(-0.456, '°C')).toBe('-0.46 °C')
  })
})
