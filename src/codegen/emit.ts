import type { GeneratedFile, Printable } from "@bufbuild/protoplugin"

/** Indented lines of generated code, printed into a file at the end. */
export class Lines {
  private readonly lines: Array<Array<Printable>> = []
  private depth = 0

  line(...parts: Array<Printable>): void {
    this.lines.push(parts.length === 0 ? [] : ["  ".repeat(this.depth), ...parts])
  }

  /** A line ending in `{`; what follows is indented until {@link close}. */
  open(...parts: Array<Printable>): void {
    this.line(...parts)
    this.depth++
  }

  close(...parts: Array<Printable>): void {
    this.depth--
    this.line(...(parts.length === 0 ? ["}"] : parts))
  }

  /** A line like `} else {` between two indented blocks. */
  middle(...parts: Array<Printable>): void {
    this.depth--
    this.line(...parts)
    this.depth++
  }

  append(other: Lines): void {
    for (const parts of other.lines) this.lines.push(parts.length === 0 ? [] : ["  ".repeat(this.depth), ...parts])
  }

  printTo(f: GeneratedFile): void {
    for (const parts of this.lines) f.print(...parts)
  }
}
