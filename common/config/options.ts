/**
 * Checks for library classes' own options (not the environment: a library
 * does not know which variable a value came from, so its errors name the
 * option and echo the value; the program's schema maps variables to options).
 * A bad option is a programming error: it throws at construction, before the
 * object can wait forever on a concurrency of 0 or spin on a delay of -1.
 */
export class OptionError extends RangeError {
  override readonly name = 'OptionError';
}

/** Throws unless value is a whole number from min to max: `Delivery: misconfiguredRetryMs=-1: expected ...`. */
export function checkWholeNumber(owner: string, option: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new OptionError(`${owner}: ${option}=${String(value)}: expected a whole number from ${min} to ${max}`);
  }
}
