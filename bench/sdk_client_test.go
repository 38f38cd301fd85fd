package bench

// sdkClients and sdkIdlers return the SDK's entries for BenchmarkE2E and
// BenchmarkIdle. They are empty until sse.Client is committed.
func sdkClients() []client { return nil }

func sdkIdlers() []idler { return nil }
