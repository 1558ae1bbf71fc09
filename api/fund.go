package api

// fundRoutes are the community fund's routes (funds, donations, proposals,
// votes, public disclosure, reports).
func (s *Server) fundRoutes() []route { return nil }
