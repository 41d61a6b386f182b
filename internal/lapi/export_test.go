package lapi

// HashCompares is how many bcrypt password compares s has run.
func HashCompares(s *Server) int64 { return s.abuse.compares.Load() }

// HoldHashSlots takes every shared bcrypt slot of s (and, with known, the
// slot reserved for machines' own addresses) until release is called.
func HoldHashSlots(s *Server, known bool) (release func()) {
	return s.abuse.hashes.Hold(known)
}
