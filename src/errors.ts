/**
 * An error caused by what the user gave us (a file, a flag, a shape), as opposed to a bug.
 * The CLI prints its message on one line, without a stack trace, and exits with status 2.
 * Messages name the file or flag and say what was wrong, e.g.
 * `weights.safetensors: tensor "conv1.weight" has shape [64, 3, 11, 11], expected [96, 3, 11, 11]`.
 */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

/** Prefixes a UserError's message with the file it concerns, leaving other errors untouched. */
export function inFile<T>(file: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof UserError) throw new UserError(`${file}: ${e.message}`);
    throw e;
  }
}
