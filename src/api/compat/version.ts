// Toolchain versions as the compatible APIs show them: the leading dotted number of what the
// profile's version probe found ("5.2.15(1)-release" -> "5.2.15", "3.1.2p20" -> "3.1.2").

/** The dotted number a version starts with; "0.0.0" when it has none (or was not probed). */
export function numericVersion(version: string | null): string {
  return /\d+(?:\.\d+)*/.exec(version ?? '')?.[0] ?? '0.0.0';
}
