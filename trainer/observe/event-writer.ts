// A TensorBoard event-file writer: <logDir>/<uid>/events.out.tfevents.<seconds>.<host>.<pid>, one
// TFRecord per Event, the first one carrying the file version as TensorBoard expects.
import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { encodeEvent, type EventFields } from './event-proto.js';
import { encodeRecord } from './tfrecord.js';

export class EventWriter {
  private fd: number | undefined;

  private constructor(
    readonly path: string,
    fd: number,
  ) {
    this.fd = fd;
  }

  /** Create the run folder and a new event file in it. */
  static open(logDir: string, uid: string, now: Date = new Date()): EventWriter {
    const dir = join(logDir, uid);
    const seconds = Math.floor(now.getTime() / 1000);
    const path = join(dir, `events.out.tfevents.${seconds}.${hostname()}.${process.pid}`);
    let fd: number;
    try {
      mkdirSync(dir, { recursive: true });
      fd = openSync(path, 'a');
    } catch (err) {
      throw new Error(`cannot create TensorBoard event file in ${dir}`, { cause: err });
    }
    const writer = new EventWriter(path, fd);
    writer.write({ wall_time: now.getTime() / 1000, file_version: 'brain.Event:2' });
    return writer;
  }

  /** One scalar point; several points with one step can share an event via addScalars. */
  addScalar(tag: string, value: number, step: number, wallTime: number = Date.now() / 1000): void {
    this.addScalars({ [tag]: value }, step, wallTime);
  }

  addScalars(values: Readonly<Record<string, number>>, step: number, wallTime: number = Date.now() / 1000): void {
    const value = Object.entries(values).map(([tag, v]) => ({ tag, simple_value: v }));
    this.write({ wall_time: wallTime, step, summary: { value } });
  }

  /**
   * One image summary (TensorBoard's Images tab), already encoded as PNG: e.g. an augmentation grid from
   * trainer/data's augmentationGrids. channels is the PNG's: 1 (grayscale), 3 (RGB) or 4 (RGBA).
   */
  addImage(tag: string, image: { png: Uint8Array; height: number; width: number; channels: number }, step: number, wallTime: number = Date.now() / 1000): void {
    if (![1, 3, 4].includes(image.channels)) throw new RangeError(`image ${tag}: ${image.channels} channels, expected 1, 3 or 4`);
    const value = [{ tag, image: { height: image.height, width: image.width, colorspace: image.channels, encoded_image_string: image.png } }];
    this.write({ wall_time: wallTime, step, summary: { value } });
  }

  /** Make what was written durable (the OS already has it; readers see it without this). */
  flush(): void {
    if (this.fd !== undefined) fsyncSync(this.fd);
  }

  close(): void {
    if (this.fd === undefined) return;
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = undefined;
  }

  // Synchronous writes: records are tens of bytes, a few per step, and a crash keeps every record written.
  private write(event: EventFields): void {
    if (this.fd === undefined) throw new Error(`event file ${this.path} is closed`);
    writeSync(this.fd, encodeRecord(encodeEvent(event)));
  }
}
