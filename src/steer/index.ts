// steer/: pure decisions on where new flows go (DESIGN §1).
export * from './steer.js';
export * from './failback.js';
export * from './dampening.js';
