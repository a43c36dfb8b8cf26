"""The paper's two workloads, each as a durable workflow and as an explicit-state baseline."""
