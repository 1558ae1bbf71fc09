package api

// timebankRoutes are the time bank's routes (services, needs, offers,
// redemptions, gifts, pool grants, settlement, reports).
func (s *Server) timebankRoutes() []route { return nil }
