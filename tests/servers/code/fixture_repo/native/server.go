package native

import "fmt"

// Server answers requests.
type Server struct {
	Name string
}

// Handler handles one request.
type Handler interface {
	Handle(req string) string
}

const DefaultPort = 8080

// NewServer makes a server.
func NewServer(name string) *Server {
	return &Server{Name: name}
}

// Handle answers one request.
func (s *Server) Handle(req string) string {
	return fmt.Sprintf("%s: %s", s.Name, greet(req))
}

func greet(who string) string {
	return "hello " + who
}
