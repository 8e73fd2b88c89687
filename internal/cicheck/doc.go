// Package cicheck holds the tests of the CI scripts in .ci that decide
// whether a run passes. It has no API.
package cicheck
