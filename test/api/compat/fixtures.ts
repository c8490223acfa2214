// Requests and answers modelled on the examples of Judge0 CE's and Piston v2's API documentation,
// written here as our own fixtures: the same situations (a C program greeting its stdin, a
// submission without a language, an unknown language id, limits above the maximum, base64 input,
// a waited-for Accepted run, a batch in three languages; Piston's runtimes and an execute with
// args), with programs of our own.

/** A C program that reads a word and greets it, as Judge0's documentation does. */
export const C_GREETER = '#include <stdio.h>\n\nint main(void) {\n    char who[32];\n    if (scanf("%31s", who) != 1) return 2;\n    printf("hello, %s\\n", who);\n    return 0;\n}\n';

export const JUDGE0 = {
  /** Create with stdin: 201 {"token"}. */
  create: { body: { source_code: C_GREETER, language_id: 50, stdin: 'world' } },
  /** No language_id: Judge0 says 422 {"language_id": ["can't be blank"]}; codexec 400, same body shape. */
  missingLanguage: { body: { source_code: C_GREETER }, status: 400, field: 'language_id' },
  /** A language id that does not exist: 422 {"language_id": [...]}. */
  unknownLanguage: { body: { source_code: C_GREETER, language_id: 150000, stdin: 'world', expected_output: 'hello, world' }, status: 422, field: 'language_id' },
  /** Every limit set, the wall-clock one far too high: Judge0 422 {"wall_time_limit": ["must be less than or equal to ..."]}. */
  limitsTooHigh: {
    body: {
      source_code: C_GREETER,
      language_id: 50,
      stdin: 'Judge0',
      expected_output: 'hello, Judge0',
      number_of_runs: 1,
      cpu_time_limit: 1,
      wall_time_limit: 100000,
      memory_limit: 128000,
      enable_per_process_and_thread_time_limit: false,
      enable_per_process_and_thread_memory_limit: false,
    },
    status: 422,
    field: 'wall_time_limit',
  },
  /** Source and stdin base64 (base64_encoded=true): 201 {"token"}; the run prints "hello, Judge0". */
  base64: {
    body: { source_code: Buffer.from(C_GREETER).toString('base64'), language_id: 50, stdin: Buffer.from('Judge0').toString('base64') },
    stdout: 'hello, Judge0\n',
  },
  /** wait=true with an expected output ("language_id" as a string, as the documentation sends it): 201, Accepted. */
  waitAccepted: {
    body: { source_code: C_GREETER, language_id: '50', stdin: 'Judge0', expected_output: 'hello, Judge0' },
    answer: { stdout: 'hello, Judge0\n', stderr: null, compile_output: null, message: null, status: { id: 3, description: 'Accepted' } },
  },
  /** A batch in three languages: 201 [{"token"}, {"token"}, {"token"}]. */
  batch: {
    body: {
      submissions: [
        { language_id: 46, source_code: 'echo "hello from Bash"' },
        { language_id: 71, source_code: 'print("hello from Python")' },
        { language_id: 72, source_code: 'puts("hello from Ruby")' },
      ],
    },
    stdouts: ['hello from Bash\n', 'hello from Python\n', 'hello from Ruby\n'],
  },
} as const;

export const PISTON = {
  /** An execute like the documentation's: a program printing its argv, with args, timeouts and -1 memory limits. */
  execute: {
    body: {
      language: 'js',
      version: '*',
      files: [{ name: 'my_program.js', content: 'console.log(JSON.stringify(process.argv.slice(2)))' }],
      stdin: '',
      args: ['1', '2', '3'],
      compile_timeout: 10000,
      run_timeout: 3000,
      compile_memory_limit: -1,
      run_memory_limit: -1,
    },
    stdout: '["1","2","3"]\n',
  },
} as const;
