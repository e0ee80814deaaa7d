package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// block is one piece of the report, rendered as plain text on standard output and as
// Markdown in results.md. Exactly one of its fields is set.
type block struct {
	heading string
	para    string
	items   []string
	table   *table
	code    string
}

// table is a table of the report. In Markdown, columns marked numeric are right-aligned
// and columns marked code are set as inline code.
type table struct {
	header  []string
	numeric []bool
	code    []bool
	rows    [][]string
}

// addRow appends one row to t.
func (t *table) addRow(cells ...string) {
	t.rows = append(t.rows, cells)
}

// textWidth is the width plain-text paragraphs are wrapped to.
const textWidth = 100

// renderText writes blocks as plain text, tables aligned with text/tabwriter.
func renderText(w io.Writer, blocks []block) {
	for _, b := range blocks {
		switch {
		case b.heading != "":
			fmt.Fprintf(w, "%s\n%s\n\n", b.heading, strings.Repeat("=", len([]rune(b.heading))))
		case b.para != "":
			fmt.Fprintf(w, "%s\n\n", wrap(b.para, textWidth, ""))
		case b.items != nil:
			for _, it := range b.items {
				fmt.Fprintln(w, "  - "+wrap(it, textWidth-4, "    "))
			}
			fmt.Fprintln(w)
		case b.table != nil:
			textTable(w, b.table)
		case b.code != "":
			fmt.Fprintf(w, "  %s\n\n", b.code)
		}
	}
}

// textTable writes t aligned in columns.
func textTable(w io.Writer, t *table) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(t.header, "\t"))
	for _, row := range t.rows {
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()
	fmt.Fprintln(w)
}

// wrap breaks s into lines of at most width runes at spaces (a longer word stays whole)
// and starts every line after the first with indent.
func wrap(s string, width int, indent string) string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		if line != "" && len([]rune(line))+1+len([]rune(word)) > width {
			lines = append(lines, line)
			line = word
			continue
		}
		if line == "" {
			line = word
		} else {
			line += " " + word
		}
	}
	return strings.Join(append(lines, line), "\n"+indent)
}

// renderMarkdown writes blocks as Markdown.
func renderMarkdown(w io.Writer, blocks []block) {
	for _, b := range blocks {
		switch {
		case b.heading != "":
			fmt.Fprintf(w, "\n## %s\n\n", b.heading)
		case b.para != "":
			fmt.Fprintf(w, "%s\n\n", markdownText(b.para))
		case b.items != nil:
			for _, it := range b.items {
				fmt.Fprintf(w, "- %s\n", markdownText(it))
			}
			fmt.Fprintln(w)
		case b.table != nil:
			markdownTable(w, b.table)
		case b.code != "":
			fmt.Fprintf(w, "```sh\n%s\n```\n\n", b.code)
		}
	}
}

// markdownEscaper escapes the characters that Markdown could read as markup.
var markdownEscaper = strings.NewReplacer(
	`\`, `\\`, "`", "\\`", "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`, "<", `\<`, ">", `\>`, "|", `\|`)

// markdownText returns s as Markdown text that shows s literally.
func markdownText(s string) string {
	return markdownEscaper.Replace(s)
}

// markdownCell returns cell s of column i of t as Markdown.
func (t *table) markdownCell(i int, s string) string {
	if i < len(t.code) && t.code[i] && s != "" && !strings.Contains(s, "`") {
		return "`" + strings.ReplaceAll(s, "|", `\|`) + "`"
	}
	return markdownText(s)
}

// markdownTable writes t as a Markdown pipe table.
func markdownTable(w io.Writer, t *table) {
	row := func(cells []string, code bool) {
		out := make([]string, len(cells))
		for i, c := range cells {
			out[i] = markdownText(c)
			if code {
				out[i] = t.markdownCell(i, c)
			}
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(out, " | "))
	}
	row(t.header, false)
	rule := make([]string, len(t.header))
	for i := range rule {
		rule[i] = "---"
		if i < len(t.numeric) && t.numeric[i] {
			rule[i] = "---:"
		}
	}
	fmt.Fprintf(w, "|%s|\n", strings.Join(rule, "|"))
	for _, r := range t.rows {
		row(r, true)
	}
	fmt.Fprintln(w)
}
