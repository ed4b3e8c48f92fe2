"""Detection: spikes in per-watch series, and the NAB scorer used to evaluate them."""
