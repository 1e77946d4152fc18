package testenv

import (
	"bytes"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// Metrics are the families of a /metrics scrape, parsed as Prometheus
// parses the text format.
type Metrics map[string]*dto.MetricFamily

// ParseMetrics parses a scrape in the Prometheus text format.
func ParseMetrics(text []byte) (Metrics, error) {
	var p expfmt.TextParser
	return p.TextToMetricFamilies(bytes.NewReader(text))
}

// Sample is the value of the first sample of family name that has every
// label of want (a histogram's sample count), 0 if there is none.
func (m Metrics) Sample(name string, want map[string]string) float64 {
	f := m[name]
	if f == nil {
		return 0
	}
next:
	for _, s := range f.Metric {
		got := map[string]string{}
		for _, l := range s.Label {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case s.Counter != nil:
			return s.Counter.GetValue()
		case s.Gauge != nil:
			return s.Gauge.GetValue()
		case s.Histogram != nil:
			return float64(s.Histogram.GetSampleCount())
		}
	}
	return 0
}
