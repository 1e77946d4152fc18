package runtimetest

import (
	"context"
	"strconv"
	"syscall"
	"testing"
	"time"

	"peapod/internal/runtime"
)

func fakeHarness(t *testing.T) Harness {
	return Harness{
		Runtime: NewFake(),
		Container: func(sandboxID, name string, b Behavior) runtime.ContainerSpec {
			labels := map[string]string{}
			switch {
			case b.FailToStart:
				labels[LabelStartError] = "scripted failure"
			case b.Forever:
				if b.IgnoreSIGTERM {
					labels[LabelIgnoreSignal] = "true"
				}
			default:
				labels[LabelRunFor] = "0s"
				labels[LabelExitCode] = strconv.Itoa(b.ExitCode)
			}
			return runtime.ContainerSpec{SandboxID: sandboxID, Name: name, Args: []string{"fake"}, Labels: labels}
		},
		ExitCmd: func(code int) []string { return []string{"exit", strconv.Itoa(code)} },
	}
}

func TestFake_Suite(t *testing.T) {
	Suite(t, fakeHarness)
}

func TestFake_RunForOnManualClock(t *testing.T) {
	ctx := context.Background()
	clock := NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	f := NewFake()
	f.Clock = clock
	if _, err := f.CreateSandbox(ctx, runtime.SandboxSpec{ID: "sb"}); err != nil {
		t.Fatal(err)
	}
	id, err := f.CreateContainer(ctx, runtime.ContainerSpec{SandboxID: "sb", Name: "job", Args: []string{"x"},
		Labels: map[string]string{LabelRunFor: "10s", LabelExitCode: "2"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	clock.Advance(9 * time.Second)
	if st, _ := f.ContainerStatus(ctx, id); st.State != runtime.StateRunning {
		t.Fatalf("exited early: %+v", st)
	}
	clock.Advance(time.Second)
	st, err := f.WaitContainer(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if st.ExitCode != 2 || !st.FinishedAt.Equal(st.StartedAt.Add(10*time.Second)) {
		t.Errorf("got %+v", st)
	}
}

func TestFake_StopWaitsForClock(t *testing.T) {
	ctx := context.Background()
	clock := NewManualClock(time.Unix(0, 0))
	f := NewFake()
	f.Clock = clock
	if _, err := f.CreateSandbox(ctx, runtime.SandboxSpec{ID: "sb"}); err != nil {
		t.Fatal(err)
	}
	id, _ := f.CreateContainer(ctx, runtime.ContainerSpec{SandboxID: "sb", Name: "s", Args: []string{"x"},
		Labels: map[string]string{LabelIgnoreSignal: "true"}})
	if err := f.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- f.StopContainer(ctx, runtime.StopRequest{ID: id, Signal: syscall.SIGTERM, Timeout: 30 * time.Second})
	}()
	// Advance until the stop's timer exists and fires.
	deadline := time.Now().Add(5 * time.Second)
	for {
		clock.Advance(30 * time.Second)
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			if st, _ := f.ContainerStatus(ctx, id); st.ExitCode != 137 {
				t.Errorf("got %+v", st)
			}
			return
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("StopContainer did not return")
		}
	}
}
