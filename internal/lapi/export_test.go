package lapi

// HashCompares is how many bcrypt password compares s has run.
func HashCompares(s *Server) int64 { return s.abuse.compares.Load() }

// HoldHashSlots takes every bcrypt slot of s until release is called.
func HoldHashSlots(s *Server) (release func()) {
	n := cap(s.abuse.hashes)
	for range n {
		s.abuse.hashes <- struct{}{}
	}
	return func() {
		for range n {
			<-s.abuse.hashes
		}
	}
}
