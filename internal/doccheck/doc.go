// Package doccheck holds the tests that keep the project's Markdown
// documents true to the code: every Test, Benchmark, Fuzz or Example
// function a document names exists, and every Go block a document shows
// is code that compiles (the blocks are kept, verbatim, in this package's
// test files). It has no API.
package doccheck
