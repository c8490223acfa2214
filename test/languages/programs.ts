// One small program per behaviour and language. Every language in sandbox-profiles/languages/ must
// have an entry (profiles.test.ts checks), so a new profile cannot ship untested.
export interface LanguagePrograms {
  /** Prints exactly "Hello World\n". */
  hello: string;
  /** Reads one line from stdin and prints it back with a newline. */
  echo: string;
  /** Does not compile (compiled languages only). */
  compileError?: string;
  /** Fails at run time: an uncaught exception or a non-zero exit. */
  runtimeError: string;
  /** Never ends, burning CPU. */
  infiniteLoop: string;
  /** Allocates and touches memory without bound. */
  memoryBomb: string;
}

export const PROGRAMS: Record<string, LanguagePrograms> = {
  python: {
    hello: 'print("Hello World")\n',
    echo: 'line = input()\nprint(line)\n',
    runtimeError: 'raise ValueError("boom")\n',
    infiniteLoop: 'while True:\n    pass\n',
    memoryBomb: 'chunks = []\nwhile True:\n    chunks.append(bytearray(1 << 20))\n',
  },
  javascript: {
    hello: 'console.log("Hello World");\n',
    echo: "const line = require('fs').readFileSync(0, 'utf8').split('\\n')[0];\nconsole.log(line);\n",
    runtimeError: 'throw new Error("boom");\n',
    infiniteLoop: 'for (;;) {}\n',
    // Buffers live outside the V8 heap, so the cgroup, not V8's heap limit, stops this.
    memoryBomb: 'const chunks = [];\nfor (;;) chunks.push(Buffer.alloc(1 << 20, 1));\n',
  },
  typescript: {
    hello: 'const greeting: string = "Hello World";\nconsole.log(greeting);\n',
    echo: "import * as fs from 'fs';\nconst line: string = fs.readFileSync(0, 'utf8').split('\\n')[0];\nconsole.log(line);\n",
    compileError: 'const n: number = "not a number";\nconsole.log(n);\n',
    runtimeError: 'function fail(): never {\n  throw new Error("boom");\n}\nfail();\n',
    infiniteLoop: 'for (;;) {}\n',
    memoryBomb: 'const chunks: Buffer[] = [];\nfor (;;) chunks.push(Buffer.alloc(1 << 20, 1));\n',
  },
  c: {
    hello: '#include <stdio.h>\nint main(void) { printf("Hello World\\n"); return 0; }\n',
    echo: '#include <stdio.h>\nint main(void) {\n  char line[256];\n  if (!fgets(line, sizeof line, stdin)) return 1;\n  fputs(line, stdout);\n  return 0;\n}\n',
    compileError: 'int main(void) { return undeclared_variable; }\n',
    runtimeError: '#include <stdio.h>\nint main(void) { fprintf(stderr, "boom\\n"); return 3; }\n',
    infiniteLoop: 'int main(void) { volatile unsigned long n = 0; for (;;) n++; }\n',
    memoryBomb:
      '#include <stdlib.h>\n#include <string.h>\nint main(void) {\n  for (;;) { char *p = malloc(1 << 20); if (!p) return 1; memset(p, 1, 1 << 20); }\n}\n',
  },
  cpp: {
    hello: '#include <iostream>\nint main() { std::cout << "Hello World" << std::endl; }\n',
    echo: '#include <iostream>\n#include <string>\nint main() {\n  std::string line;\n  std::getline(std::cin, line);\n  std::cout << line << "\\n";\n}\n',
    compileError: '#include <string>\nint main() { std::string s = 42; return s.size(); }\n',
    runtimeError: '#include <stdexcept>\nint main() { throw std::runtime_error("boom"); }\n',
    infiniteLoop: 'int main() { volatile unsigned long n = 0; for (;;) n++; }\n',
    memoryBomb:
      '#include <vector>\n#include <memory>\nint main() {\n  std::vector<std::unique_ptr<std::vector<char>>> chunks;\n  for (;;) chunks.push_back(std::make_unique<std::vector<char>>(1 << 20, 1));\n}\n',
  },
  java: {
    hello: 'public class Main {\n  public static void main(String[] args) {\n    System.out.println("Hello World");\n  }\n}\n',
    echo:
      'import java.io.*;\npublic class Main {\n  public static void main(String[] args) throws IOException {\n    BufferedReader in = new BufferedReader(new InputStreamReader(System.in));\n    System.out.println(in.readLine());\n  }\n}\n',
    compileError: 'public class Main {\n  public static void main(String[] args) {\n    int n = "not a number";\n  }\n}\n',
    runtimeError: 'public class Main {\n  public static void main(String[] args) {\n    throw new IllegalStateException("boom");\n  }\n}\n',
    infiniteLoop: 'public class Main {\n  public static void main(String[] args) {\n    long n = 0;\n    while (true) n++;\n  }\n}\n',
    memoryBomb:
      'import java.util.*;\npublic class Main {\n  public static void main(String[] args) {\n    List<byte[]> chunks = new ArrayList<>();\n    while (true) { byte[] b = new byte[1 << 20]; Arrays.fill(b, (byte) 1); chunks.add(b); }\n  }\n}\n',
  },
  go: {
    hello: 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("Hello World")\n}\n',
    echo: 'package main\n\nimport (\n\t"bufio"\n\t"fmt"\n\t"os"\n)\n\nfunc main() {\n\ts := bufio.NewScanner(os.Stdin)\n\ts.Scan()\n\tfmt.Println(s.Text())\n}\n',
    compileError: 'package main\n\nfunc main() {\n\tvar n int = "not a number"\n}\n',
    runtimeError: 'package main\n\nfunc main() {\n\tpanic("boom")\n}\n',
    infiniteLoop: 'package main\n\nfunc main() {\n\tn := 0\n\tfor {\n\t\tn++\n\t}\n}\n',
    memoryBomb:
      'package main\n\nfunc main() {\n\tvar chunks [][]byte\n\tfor {\n\t\tb := make([]byte, 1<<20)\n\t\tfor i := range b {\n\t\t\tb[i] = 1\n\t\t}\n\t\tchunks = append(chunks, b)\n\t}\n}\n',
  },
  rust: {
    hello: 'fn main() {\n    println!("Hello World");\n}\n',
    echo: 'use std::io::BufRead;\nfn main() {\n    let mut line = String::new();\n    std::io::stdin().lock().read_line(&mut line).unwrap();\n    println!("{}", line.trim_end_matches(\'\\n\'));\n}\n',
    compileError: 'fn main() {\n    let n: i32 = "not a number";\n}\n',
    runtimeError: 'fn main() {\n    panic!("boom");\n}\n',
    infiniteLoop: 'fn main() {\n    let mut n: u64 = 0;\n    loop {\n        n = std::hint::black_box(n + 1);\n    }\n}\n',
    memoryBomb: 'fn main() {\n    let mut chunks = Vec::new();\n    loop {\n        chunks.push(vec![1u8; 1 << 20]);\n    }\n}\n',
  },
  ruby: {
    hello: 'puts "Hello World"\n',
    echo: 'line = gets\nputs line.chomp\n',
    runtimeError: 'raise "boom"\n',
    infiniteLoop: 'loop { }\n',
    memoryBomb: 'chunks = []\nloop { chunks << ("x" * (1 << 20)) }\n',
  },
  php: {
    hello: '<?php\necho "Hello World\\n";\n',
    echo: '<?php\n$line = fgets(STDIN);\necho rtrim($line, "\\n"), "\\n";\n',
    runtimeError: '<?php\nthrow new RuntimeException("boom");\n',
    infiniteLoop: '<?php\nwhile (true) { }\n',
    memoryBomb: '<?php\n$chunks = [];\nwhile (true) { $chunks[] = str_repeat("x", 1 << 20); }\n',
  },
  perl: {
    hello: 'print "Hello World\\n";\n',
    echo: 'my $line = <STDIN>;\nchomp $line;\nprint "$line\\n";\n',
    runtimeError: 'die "boom\\n";\n',
    infiniteLoop: '1 while 1;\n',
    memoryBomb: 'my @chunks;\nwhile (1) { push @chunks, "x" x (1 << 20); }\n',
  },
  bash: {
    hello: 'echo "Hello World"\n',
    echo: 'read -r line\necho "$line"\n',
    runtimeError: 'echo boom >&2\nexit 3\n',
    infiniteLoop: 'while :; do :; done\n',
    // Doubling a string: the shell's own memory grows without a fork per step.
    memoryBomb: 'x=xxxxxxxxxxxxxxxx\nwhile :; do x="$x$x"; done\n',
  },
};
