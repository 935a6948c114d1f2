"""Looking inside trained networks: hidden-state trajectories and PCA, decoding over
time, fixed and slow points, one-step maps, psychometric curves, ablations, and
intervals over seeds. Each module is one method; none of them trains."""
