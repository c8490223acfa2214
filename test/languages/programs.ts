// One small program per behaviour and language. Every language in sandbox-profiles/languages/ must
// have an entry (profiles.test.ts checks), so a new profile cannot ship untested. Hello World is
// each profile's own template, so the code new sessions start with is tested too.
export interface LanguagePrograms {
  /** Reads one line from stdin and prints it back with a newline. */
  echo: string;
  /** Does not compile (compiled languages only). */
  compileError?: string;
  /**
   * Compiled languages only: uses a large part of the standard library and prints "ok\n". Proves
   * the compile limits fit real programs, not only Hello World.
   */
  stdlib?: string;
  /** Fails at run time: an uncaught exception or a non-zero exit. */
  runtimeError: string;
  /** Never ends, burning CPU. */
  infiniteLoop: string;
  /**
   * Allocates and touches memory without bound, in 16 MiB steps: a large step goes past the limit
   * at once instead of creeping up to it, where the kernel can spend seconds evicting the
   * interpreter's own file pages before it gives up and kills.
   */
  memoryBomb: string;
}

export const PROGRAMS: Record<string, LanguagePrograms> = {
  python: {
    echo: 'line = input()\nprint(line)\n',
    runtimeError: 'raise ValueError("boom")\n',
    infiniteLoop: 'while True:\n    pass\n',
    memoryBomb: "chunks = []\nwhile True:\n    chunks.append(b'x' * (16 << 20))\n",
  },
  javascript: {
    echo: "const line = require('fs').readFileSync(0, 'utf8').split('\\n')[0];\nconsole.log(line);\n",
    runtimeError: 'throw new Error("boom");\n',
    infiniteLoop: 'for (;;) {}\n',
    // Buffers live outside the V8 heap, so the cgroup, not V8's heap limit, stops this.
    memoryBomb: 'const chunks = [];\nfor (;;) chunks.push(Buffer.alloc(16 << 20, 1));\n',
  },
  typescript: {
    echo: "import * as fs from 'fs';\nconst line: string = fs.readFileSync(0, 'utf8').split('\\n')[0];\nconsole.log(line);\n",
    compileError: 'const n: number = "not a number";\nconsole.log(n);\n',
    stdlib:
      "import * as readline from 'readline';\nimport { createHash } from 'crypto';\n\ninterface Counter<K> { counts: Map<K, number>; add(k: K): void }\n\nfunction counter<K>(): Counter<K> {\n  const counts = new Map<K, number>();\n  return { counts, add: (k) => counts.set(k, (counts.get(k) ?? 0) + 1) };\n}\n\nconst c = counter<string>();\nconst rl = readline.createInterface({ input: process.stdin });\nrl.on('line', (line: string) => c.add(line));\nrl.on('close', () => {\n  const digest = createHash('sha256').update(JSON.stringify([...c.counts])).digest('hex');\n  console.log(digest.length === 64 ? 'ok' : 'bad');\n});\n",
    runtimeError: 'function fail(): never {\n  throw new Error("boom");\n}\nfail();\n',
    infiniteLoop: 'for (;;) {}\n',
    memoryBomb: 'const chunks: Buffer[] = [];\nfor (;;) chunks.push(Buffer.alloc(16 << 20, 1));\n',
  },
  c: {
    echo: '#include <stdio.h>\nint main(void) {\n  char line[256];\n  if (!fgets(line, sizeof line, stdin)) return 1;\n  fputs(line, stdout);\n  return 0;\n}\n',
    compileError: 'int main(void) { return undeclared_variable; }\n',
    stdlib:
      '#include <math.h>\n#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n\nstatic int cmp(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }\n\nint main(void) {\n  int v[] = {3, 1, 2};\n  qsort(v, 3, sizeof v[0], cmp);\n  char buf[32];\n  snprintf(buf, sizeof buf, "%.0f", sqrt(16.0) + v[0]);\n  puts(strcmp(buf, "5") == 0 ? "ok" : "bad");\n  return 0;\n}\n',
    runtimeError: '#include <stdio.h>\nint main(void) { fprintf(stderr, "boom\\n"); return 3; }\n',
    infiniteLoop: 'int main(void) { volatile unsigned long n = 0; for (;;) n++; }\n',
    memoryBomb:
      '#include <stdlib.h>\n#include <string.h>\nint main(void) {\n  for (;;) { char *p = malloc(16 << 20); if (!p) return 1; memset(p, 1, 16 << 20); }\n}\n',
  },
  cpp: {
    echo: '#include <iostream>\n#include <string>\nint main() {\n  std::string line;\n  std::getline(std::cin, line);\n  std::cout << line << "\\n";\n}\n',
    compileError: '#include <string>\nint main() { std::string s = 42; return s.size(); }\n',
    stdlib:
      '#include <bits/stdc++.h>\nusing namespace std;\n\ntemplate <typename T> T sum(const vector<T> &v) { return accumulate(v.begin(), v.end(), T{}); }\n\nint main() {\n  map<string, vector<int>> m{{"a", {3, 1, 2}}};\n  auto &v = m["a"];\n  sort(v.begin(), v.end());\n  unordered_set<int> s(v.begin(), v.end());\n  ostringstream out;\n  out << sum(v) << s.size();\n  cout << (out.str() == "63" ? "ok" : "bad") << endl;\n}\n',
    runtimeError: '#include <stdexcept>\nint main() { throw std::runtime_error("boom"); }\n',
    infiniteLoop: 'int main() { volatile unsigned long n = 0; for (;;) n++; }\n',
    memoryBomb:
      '#include <vector>\n#include <memory>\nint main() {\n  std::vector<std::unique_ptr<std::vector<char>>> chunks;\n  for (;;) chunks.push_back(std::make_unique<std::vector<char>>(16 << 20, 1));\n}\n',
  },
  java: {
    echo:
      'import java.io.*;\npublic class Main {\n  public static void main(String[] args) throws IOException {\n    BufferedReader in = new BufferedReader(new InputStreamReader(System.in));\n    System.out.println(in.readLine());\n  }\n}\n',
    compileError: 'public class Main {\n  public static void main(String[] args) {\n    int n = "not a number";\n  }\n}\n',
    stdlib:
      'import java.util.*;\nimport java.util.stream.*;\n\npublic class Main {\n  record Point(int x, int y) {}\n\n  public static void main(String[] args) {\n    List<Point> ps = IntStream.range(0, 100).mapToObj(i -> new Point(i, i * i)).collect(Collectors.toList());\n    Map<Boolean, Long> parts = ps.stream().collect(Collectors.partitioningBy(p -> p.y() % 2 == 0, Collectors.counting()));\n    String joined = ps.stream().limit(3).map(Point::toString).collect(Collectors.joining(","));\n    System.out.println(parts.get(true) == 50 && joined.startsWith("Point[x=0") ? "ok" : "bad");\n  }\n}\n',
    runtimeError: 'public class Main {\n  public static void main(String[] args) {\n    throw new IllegalStateException("boom");\n  }\n}\n',
    infiniteLoop: 'public class Main {\n  public static void main(String[] args) {\n    long n = 0;\n    while (true) n++;\n  }\n}\n',
    memoryBomb:
      'import java.util.*;\npublic class Main {\n  public static void main(String[] args) {\n    List<byte[]> chunks = new ArrayList<>();\n    while (true) { byte[] b = new byte[16 << 20]; Arrays.fill(b, (byte) 1); chunks.add(b); }\n  }\n}\n',
  },
  go: {
    echo: 'package main\n\nimport (\n\t"bufio"\n\t"fmt"\n\t"os"\n)\n\nfunc main() {\n\ts := bufio.NewScanner(os.Stdin)\n\ts.Scan()\n\tfmt.Println(s.Text())\n}\n',
    compileError: 'package main\n\nfunc main() {\n\tvar n int = "not a number"\n}\n',
    stdlib:
      'package main\n\nimport (\n\t"encoding/json"\n\t"fmt"\n\t"net/http"\n\t"regexp"\n\t"sort"\n\t"strings"\n)\n\nfunc main() {\n\tv := []int{3, 1, 2}\n\tsort.Ints(v)\n\tb, _ := json.Marshal(map[string][]int{"v": v})\n\tok := string(b) == `{"v":[1,2,3]}` && regexp.MustCompile(`^a+$`).MatchString(strings.Repeat("a", 3)) && http.StatusText(404) == "Not Found"\n\tif ok {\n\t\tfmt.Println("ok")\n\t} else {\n\t\tfmt.Println("bad")\n\t}\n}\n',
    runtimeError: 'package main\n\nfunc main() {\n\tpanic("boom")\n}\n',
    infiniteLoop: 'package main\n\nfunc main() {\n\tn := 0\n\tfor {\n\t\tn++\n\t}\n}\n',
    memoryBomb:
      'package main\n\nfunc main() {\n\tvar chunks [][]byte\n\tfor {\n\t\tb := make([]byte, 16<<20)\n\t\tfor i := range b {\n\t\t\tb[i] = 1\n\t\t}\n\t\tchunks = append(chunks, b)\n\t}\n}\n',
  },
  rust: {
    echo: 'use std::io::BufRead;\nfn main() {\n    let mut line = String::new();\n    std::io::stdin().lock().read_line(&mut line).unwrap();\n    println!("{}", line.trim_end_matches(\'\\n\'));\n}\n',
    compileError: 'fn main() {\n    let n: i32 = "not a number";\n}\n',
    stdlib:
      'use std::collections::{BTreeMap, HashMap, HashSet};\nuse std::fmt::Write;\n\n#[derive(Debug, Clone, PartialEq)]\nstruct Point {\n    x: i64,\n    y: i64,\n}\n\nfn main() {\n    let points: Vec<Point> = (0..100).map(|i| Point { x: i, y: i * i }).collect();\n    let even: HashSet<i64> = points.iter().filter(|p| p.y % 2 == 0).map(|p| p.x).collect();\n    let mut by_digit: BTreeMap<i64, Vec<&Point>> = BTreeMap::new();\n    for p in &points {\n        by_digit.entry(p.y % 10).or_default().push(p);\n    }\n    let mut counts: HashMap<&str, usize> = HashMap::new();\n    *counts.entry("even").or_insert(0) += even.len();\n    let mut s = String::new();\n    write!(s, "{:?}", points[1]).unwrap();\n    println!("{}", if counts["even"] == 50 && by_digit.len() == 6 && s.starts_with("Point") { "ok" } else { "bad" });\n}\n',
    runtimeError: 'fn main() {\n    panic!("boom");\n}\n',
    // The print is never reached but keeps the optimizer from deleting the loop's body.
    infiniteLoop: 'fn main() {\n    let mut n: u64 = 1;\n    loop {\n        n = n.wrapping_mul(3).wrapping_add(1);\n        if n == 0 {\n            println!("{}", n);\n        }\n    }\n}\n',
    memoryBomb: 'fn main() {\n    let mut chunks = Vec::new();\n    loop {\n        chunks.push(vec![1u8; 16 << 20]);\n    }\n}\n',
  },
  ruby: {
    echo: 'line = gets\nputs line.chomp\n',
    runtimeError: 'raise "boom"\n',
    infiniteLoop: 'loop { }\n',
    memoryBomb: 'chunks = []\nloop { chunks << ("x" * (16 << 20)) }\n',
  },
  php: {
    echo: '<?php\n$line = fgets(STDIN);\necho rtrim($line, "\\n"), "\\n";\n',
    runtimeError: '<?php\nthrow new RuntimeException("boom");\n',
    infiniteLoop: '<?php\nwhile (true) { }\n',
    memoryBomb: '<?php\n$chunks = [];\nwhile (true) { $chunks[] = str_repeat("x", 16 << 20); }\n',
  },
  perl: {
    echo: 'my $line = <STDIN>;\nchomp $line;\nprint "$line\\n";\n',
    runtimeError: 'die "boom\\n";\n',
    infiniteLoop: '1 while 1;\n',
    memoryBomb: 'my @chunks;\nwhile (1) { push @chunks, "x" x (16 << 20); }\n',
  },
  bash: {
    echo: 'read -r line\necho "$line"\n',
    runtimeError: 'echo boom >&2\nexit 3\n',
    infiniteLoop: 'while :; do :; done\n',
    // printf -v fills a 16 MiB variable in the shell itself: no fork per step, no slow string copying.
    memoryBomb: "chunks=()\nwhile :; do printf -v chunk '%*s' $((16 << 20)) ''; chunks+=(\"$chunk\"); done\n",
  },
};
