"""Each loss against values worked out by hand."""

import math

import pytest
import torch

from superalign.errors import ConfigError
from superalign.losses import LOSSES, get_loss

LOGITS = torch.tensor([[0.0, math.log(3.0)], [math.log(3.0), 0.0]])  # student probs: [.25,.75], [.75,.25]
WEAK = torch.tensor([[0.2, 0.8], [0.6, 0.4]])


def test_xent_matches_hand_value():
    # -(0.2 ln .25 + 0.8 ln .75) and -(0.6 ln .75 + 0.4 ln .25), averaged
    a = -(0.2 * math.log(0.25) + 0.8 * math.log(0.75))
    b = -(0.6 * math.log(0.75) + 0.4 * math.log(0.25))
    assert get_loss("xent")(LOGITS, WEAK, 0.0).item() == pytest.approx((a + b) / 2, rel=1e-6)


def test_hard_uses_argmax_labels():
    # argmax labels are 1 and 0: both examples get prob .75
    assert get_loss("hard")(LOGITS, WEAK, 0.5).item() == pytest.approx(-math.log(0.75), rel=1e-6)


def test_logconf_is_xent_at_start_of_warmup():
    assert get_loss("logconf")(LOGITS, WEAK, 0.0).item() == pytest.approx(get_loss("xent")(LOGITS, WEAK, 0.0).item())


def test_logconf_target_after_warmup():
    # weak class-1 share = (0.8 + 0.4)/2 = 0.6 -> threshold at the 40% quantile of student p1 = [.75, .25]
    # quantile(.4) of [.25,.75] = .45 -> hardened student = [[0,1],[1,0]]
    # alpha = 0.5: targets [[.1,.9],[.8,.2]]
    loss = get_loss("logconf", alpha_max=0.5, warmup_frac=0.2)(LOGITS, WEAK, 1.0).item()
    a = -(0.1 * math.log(0.25) + 0.9 * math.log(0.75))
    b = -(0.8 * math.log(0.75) + 0.2 * math.log(0.25))
    assert loss == pytest.approx((a + b) / 2, rel=1e-6)


def test_logconf_warmup_is_linear_and_continuous():
    fn = get_loss("logconf", alpha_max=0.5, warmup_frac=0.2)
    xs = [0.0, 0.05, 0.1, 0.15, 0.2, 0.2001, 0.5, 1.0]
    vals = [fn(LOGITS, WEAK, x).item() for x in xs]
    # linear in alpha during warm-up: equal steps give equal changes
    assert vals[1] - vals[0] == pytest.approx(vals[2] - vals[1], rel=1e-5)
    assert vals[3] - vals[2] == pytest.approx(vals[4] - vals[3], rel=1e-5)
    # no jump at the end of warm-up, flat afterwards
    assert vals[5] == pytest.approx(vals[4], abs=1e-6)
    assert vals[6] == pytest.approx(vals[4], abs=1e-6) and vals[7] == pytest.approx(vals[4], abs=1e-6)


def test_product_target_hand_value():
    # alpha=beta=1: t ∝ weak * student: ex1 [.2*.25, .8*.75] = [.05,.6] -> [1/13, 12/13]
    #                                     ex2 [.6*.75, .4*.25] = [.45,.1] -> [9/11, 2/11]
    a = -(1 / 13 * math.log(0.25) + 12 / 13 * math.log(0.75))
    b = -(9 / 11 * math.log(0.75) + 2 / 11 * math.log(0.25))
    assert get_loss("product")(LOGITS, WEAK, 0.3).item() == pytest.approx((a + b) / 2, rel=1e-6)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_loss_has_gradient(name):
    logits = LOGITS.clone().requires_grad_(True)
    get_loss(name)(logits, WEAK, 0.5).backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def test_unknown_loss_and_param_are_errors():
    with pytest.raises(ConfigError, match="unknown loss"):
        get_loss("nope")
    with pytest.raises(ConfigError, match="no parameter"):
        get_loss("logconf", alpha=1.0)
