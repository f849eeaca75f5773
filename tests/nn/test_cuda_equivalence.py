"""The GPU paths against the CPU ones (run where CUDA is, e.g. by ``bench/gpu.sh`` on a lent GPU machine; skipped
elsewhere): a population of plastic networks with per-individual evolved convs, and a SoftHebb network's
unsupervised steps, give the same numbers on CUDA as on the CPU (the CPU side may take the native C++ kernels, the
CUDA side takes torch's)."""

from __future__ import annotations

import pytest
import torch

from evohebb.nn.architectures import get_model
from tests.nn.test_evolved_weights import IN_SHAPE, _genomes, _net

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.mark.parametrize("plastic_layers", [["fc1", "out"], ["conv1", "conv2", "fc1", "out"]],
                         ids=["static-evolved-convs", "learning-convs"])
def test_a_population_steps_alike_on_cuda_and_cpu(plastic_layers):
    nets = {d: _net(d, plastic_layers=plastic_layers) for d in ("cpu", "cuda")}
    genomes = _genomes(nets["cpu"], 5)
    obs = torch.randn(4, 5, *IN_SHAPE, generator=torch.Generator().manual_seed(9))
    outputs = {}
    for device, net in nets.items():
        net.load_genomes(genomes.to(device))
        net.reset(weight_seed=3)
        start = [w.cpu().clone() for w in net.weights()]
        steps = []
        for frame in obs:
            steps.append(net(frame.to(device)).cpu())
            net.update()
        outputs[device] = (torch.stack(steps), [w.cpu() for w in net.weights()])
        learned = [name for name, w0, w in zip(net.layer_names, start, outputs[device][1], strict=True)
                   if not torch.equal(w0, w)]
        assert learned == plastic_layers        # the learning layers moved, the static evolved convs did not
    torch.testing.assert_close(outputs["cuda"][0], outputs["cpu"][0], rtol=1e-4, atol=1e-5)
    for w_gpu, w_cpu in zip(outputs["cuda"][1], outputs["cpu"][1], strict=True):
        torch.testing.assert_close(w_gpu, w_cpu, rtol=1e-4, atol=1e-5)


def test_softhebb_unsupervised_steps_alike_on_cuda_and_cpu():
    torch.manual_seed(0)
    cpu = get_model("softhebb", input_shape=(3, 32, 32), n_classes=10, device="cpu")
    gpu = get_model("softhebb", input_shape=(3, 32, 32), n_classes=10, device="cuda")
    gpu.load_state_dict(cpu.state_dict())
    before = {k: v.clone() for k, v in cpu.state_dict().items()}
    images = torch.rand(3, 10, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    for model, device in ((cpu, "cpu"), (gpu, "cuda")):
        model.train()
        for batch in images:
            with torch.no_grad():
                model.features(batch.to(device))
            model.hebbian_step()
    changed = [k for k, v in cpu.state_dict().items() if v.is_floating_point() and not torch.equal(v, before[k])]
    assert changed, "the Hebbian steps changed no weight"
    for name in changed:
        torch.testing.assert_close(gpu.state_dict()[name].cpu(), cpu.state_dict()[name], rtol=1e-3, atol=1e-4)
