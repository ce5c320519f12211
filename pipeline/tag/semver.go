package tag

import (
	"strconv"
	"strings"
)

// First is the tag that Next returns when no tag is a version.
const First = "v0.1"

// version is a release version tag: an optional "v" and two or three
// dot-separated numbers.
type version struct {
	prefix  string // "v" or ""
	numbers []uint64
}

// parseVersion parses MAJOR.MINOR or MAJOR.MINOR.PATCH with an optional
// "v" prefix. Numbers are decimal without leading zeros, as in semantic
// versioning 2.0.0. A single number is rejected because a short commit
// SHA can consist of digits only.
func parseVersion(tag string) (version, bool) {
	v := version{}
	rest := tag
	if strings.HasPrefix(rest, "v") {
		v.prefix = "v"
		rest = rest[1:]
	}
	parts := strings.Split(rest, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return version{}, false
	}
	for _, p := range parts {
		if p == "" || (len(p) > 1 && p[0] == '0') {
			return version{}, false
		}
		for _, r := range p {
			if r < '0' || r > '9' {
				return version{}, false
			}
		}
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil || n == ^uint64(0) {
			// Out of range, or so large that the next version overflows.
			return version{}, false
		}
		v.numbers = append(v.numbers, n)
	}
	return v, true
}

// compare orders versions by value, treating a missing patch number as 0.
// Between equal values, the one with more numbers and then the one with
// the "v" prefix is greater, so that the choice of style is deterministic.
func compare(a, b version) int {
	for i := range 3 {
		x, y := component(a, i), component(b, i)
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	if len(a.numbers) != len(b.numbers) {
		return len(a.numbers) - len(b.numbers)
	}
	return strings.Compare(a.prefix, b.prefix)
}

func component(v version, i int) uint64 {
	if i < len(v.numbers) {
		return v.numbers[i]
	}
	return 0
}

func (v version) String() string {
	parts := make([]string, len(v.numbers))
	for i, n := range v.numbers {
		parts[i] = strconv.FormatUint(n, 10)
	}
	return v.prefix + strings.Join(parts, ".")
}

// Next returns the version that follows the highest version among tags.
//
// A version is MAJOR.MINOR or MAJOR.MINOR.PATCH with an optional "v"
// prefix. Next increments the last number of the highest version and
// keeps its style: v0.1 gives v0.2, v1.2.3 gives v1.2.4 and 1.4 gives
// 1.5. Versions compare by value with a missing patch number read as 0,
// so with v0.2 and v0.1.7 the next is v0.3. Other tags are ignored: short
// SHAs, "latest", single numbers and versions with a pre-release or build
// suffix (v1.0.0-rc.1). Without any version, Next returns First (v0.1).
func Next(tags []string) string {
	var highest version
	found := false
	for _, t := range tags {
		v, ok := parseVersion(t)
		if !ok {
			continue
		}
		if !found || compare(v, highest) > 0 {
			highest = v
			found = true
		}
	}
	if !found {
		return First
	}
	next := version{prefix: highest.prefix, numbers: append([]uint64(nil), highest.numbers...)}
	next.numbers[len(next.numbers)-1]++
	return next.String()
}
