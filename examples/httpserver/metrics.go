package main

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// newMetrics wires the OpenTelemetry SDK to a Prometheus registry of its
// own (not the global one) and returns the meter provider authv2 records
// into and the /metrics handler that serves it.
func newMetrics() (*sdkmetric.MeterProvider, http.Handler, error) {
	reg := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, nil, err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	return mp, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), nil
}

// defaultMetricsAddr is where metrics are served unless
// AUTHV2_METRICS_ADDR says otherwise: loopback only, so a scraper on the
// same host (or a sidecar) reads them and the internet does not.
const defaultMetricsAddr = "127.0.0.1:9464"

// metricsHandler serves /metrics alone, for the metrics listener. It is
// never mounted on the API's handler: request rates, error counts and
// session figures are for operators.
func metricsHandler(metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	return mux
}
