/**
 * A device's readings as a pure function of (device profile, time): a daily
 * temperature cycle with a per-device offset, slow drift and noise; humidity
 * moving against temperature; a battery that drains; signal strength that
 * wanders. Seeded, so a run can be reproduced.
 */

/** mulberry32: small, fast, good enough for simulation, and seedable. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface DeviceProfile {
  readonly id: string;
  readonly location: string;
  readonly temperatureOffset: number;
  readonly humidityOffset: number;
  readonly batteryDrainPerHour: number;
  readonly rssiBase: number;
  readonly startedAtMs: number;
}

export function makeProfiles(devices: number, locations: number, seed: number, startedAtMs: number): DeviceProfile[] {
  const random = seededRandom(seed);
  return Array.from({ length: devices }, (_, i) => ({
    id: `dev-${String(i + 1).padStart(3, '0')}`,
    location: `site-${(i % locations) + 1}`,
    temperatureOffset: (random() - 0.5) * 4,
    humidityOffset: (random() - 0.5) * 10,
    batteryDrainPerHour: 0.05 + random() * 0.2,
    rssiBase: -55 - random() * 30,
    startedAtMs,
  }));
}

const round = (value: number, digits: number): number => Math.round(value * 10 ** digits) / 10 ** digits;

export interface Reading {
  readonly temperature: number;
  readonly humidity: number;
  readonly battery: number;
  readonly rssi: number;
  readonly ts: number;
}

export function readingAt(profile: DeviceProfile, nowMs: number, random: () => number): Reading {
  const hourOfDay = (nowMs / 3_600_000) % 24;
  // Coolest around 04:00, warmest around 16:00.
  const daily = 4 * Math.sin(((hourOfDay - 10) / 24) * 2 * Math.PI);
  const hoursRunning = (nowMs - profile.startedAtMs) / 3_600_000;
  const drift = 0.5 * Math.sin(hoursRunning / 7);
  const temperature = 21 + profile.temperatureOffset + daily + drift + (random() - 0.5) * 0.3;
  const humidity = 45 + profile.humidityOffset - daily * 2 + (random() - 0.5);
  return {
    temperature: round(temperature, 2),
    humidity: round(Math.min(100, Math.max(0, humidity)), 1),
    battery: round(Math.max(0, 100 - hoursRunning * profile.batteryDrainPerHour), 1),
    rssi: Math.round(profile.rssiBase + (random() - 0.5) * 6),
    ts: nowMs,
  };
}
