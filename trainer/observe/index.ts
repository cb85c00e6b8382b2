// trainer/observe: logs, terminal progress, TensorBoard event files, and rank 0's progress endpoint.
export { createLogger, formatLogLine } from './logger.js';
export type { Logger, LoggerOptions } from './logger.js';
export { ProgressBar, renderBar, formatDuration } from './progress-bar.js';
export type { BarState } from './progress-bar.js';
export { EventWriter } from './event-writer.js';
export { StepScalars } from './step-scalars.js';
export type { ScalarSink, StepPoint } from './step-scalars.js';
export { ProgressTracker } from './progress-tracker.js';
export type { ProgressTrackerOptions } from './progress-tracker.js';
export { startProgressServer } from './progress-server.js';
export type { ProgressServer, ProgressServerOptions } from './progress-server.js';
export { crc32c, maskedCrc32c } from './crc32c.js';
export { encodeRecord, decodeRecords } from './tfrecord.js';
