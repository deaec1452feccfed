/** Runs the CLI in-process and captures what it prints. */
import { main } from '../../src/cli/main.js';

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

export async function runCli(...argv: string[]): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const status = await main(argv, { out: (s) => void (stdout += s), err: (s) => void (stderr += s) });
  return { status, stdout, stderr };
}
