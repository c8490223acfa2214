// Types of the npm piston-client (it ships none), as far as the tests use it: its index.js.
declare module 'piston-client' {
  interface Stage {
    stdout: string;
    stderr: string;
    output: string;
    code: number | null;
    signal: string | null;
  }
  interface Result {
    language: string;
    version: string;
    run: Stage;
    compile?: Stage;
  }
  interface ExecuteOptions {
    language?: string;
    version?: string;
    files?: { name?: string; content: string; encoding?: string }[];
    stdin?: string;
    args?: string[];
    compileTimeout?: number;
    runTimeout?: number;
    compileMemoryLimit?: number;
    runMemoryLimit?: number;
  }
  interface Client {
    // Both answer { success: false, error } when the request itself fails.
    runtimes(): Promise<{ language: string; version: string; aliases: string[] }[]>;
    execute(language: string, code: string, options?: ExecuteOptions): Promise<Result>;
  }
  export function piston(opts?: { server?: string }): Client;
  export default piston;
}
