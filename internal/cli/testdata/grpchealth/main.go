// Command grpchealth is a gRPC health server (grpc.health.v1.Health) for
// peapod's gRPC probe tests; it lives under testdata so that only the test
// builds it. The overall status ("") is SERVING from the start; the named
// service is NOT_SERVING until it is ready: at once if neither -ready-after
// nor -ready-file is given, else after that delay or once that file exists,
// whichever comes first. With -live-file, the server creates that file once
// it listens, and when the file is removed the service is NOT_SERVING for
// good (a liveness probe on it then fails). Status changes are printed.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func main() {
	port := flag.Int("port", 8080, "TCP port to listen on (all addresses)")
	service := flag.String("service", "ready-svc", "the named service whose status changes")
	readyAfter := flag.Duration("ready-after", 0, "the service turns SERVING after this long")
	readyFile := flag.String("ready-file", "", "the service turns SERVING once this file exists")
	liveFile := flag.String("live-file", "", "created once listening; when it is removed, the service stops serving for good")
	flag.Parse()
	log.SetFlags(0)

	lis, err := net.Listen("tcp", fmt.Sprintf(":%d", *port))
	if err != nil {
		log.Fatal(err)
	}
	hs := health.NewServer() // "" is SERVING
	hs.SetServingStatus(*service, healthpb.HealthCheckResponse_NOT_SERVING)
	if *liveFile != "" {
		if err := os.WriteFile(*liveFile, nil, 0o644); err != nil {
			log.Fatal(err)
		}
	}
	s := grpc.NewServer()
	healthpb.RegisterHealthServer(s, hs)
	fmt.Printf("listening on :%d, %s: NOT_SERVING\n", *port, *service)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go watch(ctx, hs, *service, *readyAfter, *readyFile, *liveFile)
	go func() {
		<-ctx.Done()
		s.Stop()
	}()
	if err := s.Serve(lis); err != nil {
		log.Fatal(err)
	}
	fmt.Println("stopped")
}

// watch sets the service's status from the clock and the files, printing
// each change.
func watch(ctx context.Context, hs *health.Server, service string, readyAfter time.Duration, readyFile, liveFile string) {
	start := time.Now()
	serving := false
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if liveFile != "" {
			if _, err := os.Stat(liveFile); os.IsNotExist(err) {
				hs.SetServingStatus(service, healthpb.HealthCheckResponse_NOT_SERVING)
				fmt.Printf("%s: NOT_SERVING (%s removed)\n", service, liveFile)
				return
			}
		}
		if !serving && ready(start, readyAfter, readyFile) {
			serving = true
			hs.SetServingStatus(service, healthpb.HealthCheckResponse_SERVING)
			fmt.Printf("%s: SERVING\n", service)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func ready(start time.Time, after time.Duration, file string) bool {
	if after == 0 && file == "" {
		return true
	}
	if after > 0 && time.Since(start) >= after {
		return true
	}
	if file != "" {
		if _, err := os.Stat(file); err == nil {
			return true
		}
	}
	return false
}
