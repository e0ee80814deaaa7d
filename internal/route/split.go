package route

import "strings"

// Statement is one statement of a SQL string, as Split splits it.
type Statement struct {
	// SQL is the statement's text, without its terminating semicolon.
	SQL string
	// Keyword is the statement's first word in upper case, such as "SELECT" or "WITH"; it is
	// empty when the first token is not a word.
	Keyword string
}

// Split splits sql into its statements, where SQLite's own splitting ends them,
// and drops the pieces that hold nothing but white space and comments.
//
// It follows SQLite's tokenizer (tokenize.c) for every token that can hide a semicolon:
// 'strings', "identifiers", `identifiers`, [identifiers], -- and /* */ comments, and
// $tcl(variables); and it follows sqlite3_complete (complete.c) to keep the semicolons of a
// CREATE TRIGGER body inside it. Where it may differ from SQLite it splits more, never
// less, because an extra split only yields a fragment that fails to prepare and so goes to
// the writer, while a missed split could hide a write: it goes on after a NUL byte, where
// SQLite stops reading.
func Split(sql string) []Statement {
	var out []Statement
	start := 0             // start of the current statement
	keyword := ""          // its first word
	hasToken := false      // whether it has a token other than white space or a comment
	state := completeStart // sqlite3_complete's state
	for i := 0; i < len(sql); {
		n, kind := nextToken(sql[i:])
		state = completeNext(state, kind, sql[i:i+n])
		switch {
		case kind == tokenSemicolon && state == completeStart:
			if hasToken {
				out = append(out, Statement{SQL: sql[start:i], Keyword: keyword})
			}
			start, keyword, hasToken = i+n, "", false
		case kind == tokenSpace, kind == tokenSemicolon:
		default:
			if !hasToken && kind == tokenWord {
				keyword = strings.ToUpper(sql[i : i+n])
			}
			hasToken = true
		}
		i += n
	}
	if hasToken {
		out = append(out, Statement{SQL: sql[start:], Keyword: keyword})
	}
	return out
}

// The states of sqlite3_complete's machine that matter here: the start of a statement,
// and the states between CREATE TRIGGER and the END that closes its body.
const (
	completeStart   = 1 // after a statement's end: the next semicolon ends nothing
	completeNormal  = 2 // inside an ordinary statement
	completeExplain = 3 // after a leading EXPLAIN
	completeCreate  = 4 // after a leading CREATE (and TEMP)
	completeTrigger = 5 // inside a trigger definition
	completeSemi    = 6 // after a semicolon inside a trigger body
	completeEnd     = 7 // after END following such a semicolon
)

// completeNext is sqlite3_complete's transition on one token. Comments count as white space;
// only unquoted words are keywords.
func completeNext(state int, kind tokenKind, text string) int {
	token := 2 // OTHER
	switch kind {
	case tokenSemicolon:
		token = 0
	case tokenSpace:
		token = 1
	case tokenWord:
		switch strings.ToUpper(text) {
		case "EXPLAIN":
			token = 3
		case "CREATE":
			token = 4
		case "TEMP", "TEMPORARY":
			token = 5
		case "TRIGGER":
			token = 6
		case "END":
			token = 7
		}
	}
	return completeTransitions[state][token]
}

// completeTransitions is the table of complete.c, indexed by state and by token: SEMI, WS,
// OTHER, EXPLAIN, CREATE, TEMP, TRIGGER, END.
var completeTransitions = [8][8]int{
	/* 0 INVALID */ {1, 0, 2, 3, 4, 2, 2, 2},
	/* 1 START   */ {1, 1, 2, 3, 4, 2, 2, 2},
	/* 2 NORMAL  */ {1, 2, 2, 2, 2, 2, 2, 2},
	/* 3 EXPLAIN */ {1, 3, 3, 2, 4, 2, 2, 2},
	/* 4 CREATE  */ {1, 4, 2, 2, 2, 4, 5, 2},
	/* 5 TRIGGER */ {6, 5, 5, 5, 5, 5, 5, 5},
	/* 6 SEMI    */ {6, 6, 5, 5, 5, 5, 5, 7},
	/* 7 END     */ {1, 7, 5, 5, 5, 5, 5, 5},
}

type tokenKind uint8

const (
	tokenOther tokenKind = iota
	tokenSpace           // white space or a comment
	tokenSemicolon
	tokenWord // an identifier, a keyword or a number
)

// nextToken returns the length and kind of the token that starts s, which is not empty.
// A NUL byte ends any token, as it ends SQLite's input.
func nextToken(s string) (int, tokenKind) {
	at := func(i int) byte { // the byte at i, or 0 past the end
		if i < len(s) {
			return s[i]
		}
		return 0
	}
	c := s[0]
	switch {
	case isSpace(c):
		i := 1
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		return i, tokenSpace
	case c == ';':
		return 1, tokenSemicolon
	case c == '-' && at(1) == '-':
		i := 2
		for at(i) != 0 && at(i) != '\n' {
			i++
		}
		return i, tokenSpace
	case c == '/' && at(1) == '*':
		// As in SQLite, the search for "*/" starts at index 2 and looks back one byte, so
		// "/*/" is a whole comment.
		i := 2
		for at(i) != 0 && !(at(i) == '/' && s[i-1] == '*') {
			i++
		}
		if at(i) == '/' {
			i++
		}
		return i, tokenSpace
	case c == '\'' || c == '"' || c == '`':
		i := 1
		for at(i) != 0 {
			if at(i) == c {
				if at(i+1) != c {
					i++
					break
				}
				i++
			}
			i++
		}
		return i, tokenOther
	case c == '[':
		i := 1
		for at(i) != 0 && at(i) != ']' {
			i++
		}
		if at(i) == ']' {
			i++
		}
		return i, tokenOther
	case c == '?':
		i := 1
		for isDigit(at(i)) {
			i++
		}
		return i, tokenOther
	case c == '$' || c == '@' || c == ':' || c == '#':
		return variableLength(s), tokenOther
	case isIDChar(c):
		i := 1
		for i < len(s) && isIDChar(s[i]) {
			i++
		}
		return i, tokenWord
	}
	return 1, tokenOther
}

// variableLength is the length of the $, @, : or # variable that starts s, following
// SQLite's rules: identifier characters, "::" separators, and a TCL-style "(...)" suffix
// that runs to the first white space or ')'.
func variableLength(s string) int {
	n := 0
	i := 1
	for ; i < len(s) && s[i] != 0; i++ {
		c := s[i]
		switch {
		case isIDChar(c):
			n++
		case c == '(' && n > 0:
			i++
			for i < len(s) && s[i] != 0 && !isSpace(s[i]) && s[i] != ')' {
				i++
			}
			if i < len(s) && s[i] == ')' {
				i++
			}
			return i
		case c == ':' && i+1 < len(s) && s[i+1] == ':':
			i++
		default:
			return i
		}
	}
	return i
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}
func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isIDChar reports whether c may appear in an identifier: SQLite's IdChar.
func isIDChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || isDigit(c) || c == '_' || c == '$' || c >= 0x80
}
