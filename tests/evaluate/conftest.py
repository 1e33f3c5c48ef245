import torch

# the test machines are small and shared: one intra-op thread avoids oversubscription
torch.set_num_threads(1)
