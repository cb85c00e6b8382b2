// A data set that cannot be opened (missing files, no images, a corrupt header): the data or --data-dir is wrong, so
// running again would fail the same way. The CLI exits 2 on it, like a bad flag, and the operator does not retry.
export class DataError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DataError';
  }
}
