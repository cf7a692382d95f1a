"""Each loss against values worked out by hand."""

import math

import pytest
import torch

from superalign.errors import ConfigError
from superalign.losses import LOSSES, calibrated_transition, get_loss

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


def _ce(t, p):
    """-(sum_k t_k ln p_k) for two classes."""
    return -(t[0] * math.log(p[0]) + t[1] * math.log(p[1]))


def test_entropy_is_xent_plus_entropy_of_the_student():
    # alpha = 0.5 after warm-up: targets .5*weak + .5*student = [.225,.775] and [.675,.325]
    loss = get_loss("entropy")(LOGITS, WEAK, 1.0).item()
    assert loss == pytest.approx((_ce([0.225, 0.775], [0.25, 0.75]) + _ce([0.675, 0.325], [0.75, 0.25])) / 2, rel=1e-6)
    assert get_loss("entropy")(LOGITS, WEAK, 0.0).item() == pytest.approx(get_loss("xent")(LOGITS, WEAK, 0.0).item())
    # unlike a detached self-target, the gradient is not a multiple of xent's: it also sharpens the student
    a, b = LOGITS.clone().requires_grad_(True), LOGITS.clone().requires_grad_(True)
    get_loss("entropy")(a, WEAK, 1.0).backward()
    get_loss("xent")(b, WEAK, 1.0).backward()
    assert not torch.allclose(a.grad / a.grad.norm(), b.grad / b.grad.norm(), atol=1e-3)


def test_window_trains_only_where_the_student_is_unsure():
    logits = torch.cat([LOGITS, torch.zeros(1, 2)])  # probs .75, .75 (max) and .5
    weak = torch.cat([WEAK, torch.tensor([[0.9, 0.1]])])
    # radius .15: only the third example (max prob .5 < .65) counts; sum divided by all 3
    assert get_loss("window")(logits, weak, 0.5).item() == pytest.approx(math.log(2) / 3, rel=1e-6)
    # radius .3: all three are below .8
    full = (_ce([0.2, 0.8], [0.25, 0.75]) + _ce([0.6, 0.4], [0.75, 0.25]) + math.log(2)) / 3
    assert get_loss("window", radius=0.3)(logits, weak, 0.5).item() == pytest.approx(full, rel=1e-6)


def test_adaptconf_weights_by_cross_entropy_disagreement():
    weak = torch.tensor([[0.2, 0.8], [0.3, 0.7]])
    # ex1: student and weak argmax agree (class 1): b = 1/2
    # ex2: student argmax 0, weak argmax 1: CE_self = -ln .75, CE_weak = -ln .25,
    #      b = sigmoid((CE_self - CE_weak)/0.5) = sigmoid(-2 ln 3) = 1/(1+9) = 0.1
    ex1 = 0.5 * _ce([0.2, 0.8], [0.25, 0.75]) + 0.5 * -math.log(0.75)
    ex2 = 0.9 * _ce([0.3, 0.7], [0.75, 0.25]) + 0.1 * -math.log(0.75)
    assert get_loss("adaptconf")(LOGITS, weak, 0.5).item() == pytest.approx((ex1 + ex2) / 2, rel=1e-6)
    # with a warm-up, b starts at 0: plain xent
    assert get_loss("adaptconf", warmup_frac=0.5)(LOGITS, weak, 0.0).item() == pytest.approx(
        get_loss("xent")(LOGITS, weak, 0.0).item()
    )


def test_gce_hand_value_and_limits():
    q = 0.7
    ex1 = 0.2 * (1 - 0.25**q) / q + 0.8 * (1 - 0.75**q) / q
    ex2 = 0.6 * (1 - 0.75**q) / q + 0.4 * (1 - 0.25**q) / q
    assert get_loss("gce")(LOGITS, WEAK, 0.5).item() == pytest.approx((ex1 + ex2) / 2, rel=1e-6)
    # q = 1 is the mean absolute error sum_k t_k (1 - p_k)
    mae = (0.2 * 0.75 + 0.8 * 0.25 + 0.6 * 0.25 + 0.4 * 0.75) / 2
    assert get_loss("gce", q=1.0)(LOGITS, WEAK, 0.5).item() == pytest.approx(mae, rel=1e-6)
    # q -> 0 is cross-entropy
    assert get_loss("gce", q=1e-5)(LOGITS, WEAK, 0.5).item() == pytest.approx(
        get_loss("xent")(LOGITS, WEAK, 0.5).item(), rel=1e-3
    )
    with pytest.raises(ConfigError, match="q must be"):
        get_loss("gce", q=0.0)(LOGITS, WEAK, 0.5)


def test_sce_hand_value_and_log_floor():
    ce = get_loss("xent")(LOGITS, WEAK, 0.0).item()
    rce = (_ce([0.25, 0.75], [0.2, 0.8]) + _ce([0.75, 0.25], [0.6, 0.4])) / 2
    assert get_loss("sce")(LOGITS, WEAK, 0.5).item() == pytest.approx(0.1 * ce + rce, rel=1e-6)
    # one-hot weak labels: log 0 -> A = -4, so the reverse term of [0, 1] at p = [.25, .75] is .25 * 4
    onehot = torch.tensor([[0.0, 1.0]])
    got = get_loss("sce", alpha=0.0)(LOGITS[:1], onehot, 0.5).item()
    assert got == pytest.approx(1.0, rel=1e-5)


def test_bootstrap_soft_and_hard_targets():
    soft = (_ce([0.2025, 0.7975], [0.25, 0.75]) + _ce([0.6075, 0.3925], [0.75, 0.25])) / 2  # .95 weak + .05 student
    assert get_loss("bootstrap_soft")(LOGITS, WEAK, 0.5).item() == pytest.approx(soft, rel=1e-6)
    hard = (_ce([0.16, 0.84], [0.25, 0.75]) + _ce([0.68, 0.32], [0.75, 0.25])) / 2  # .8 weak + .2 one-hot argmax
    assert get_loss("bootstrap_hard")(LOGITS, WEAK, 0.5).item() == pytest.approx(hard, rel=1e-6)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_loss_has_gradient(name):
    logits = torch.cat([LOGITS, torch.zeros(1, 2)]).requires_grad_(True)  # one example the student is unsure of
    get_loss(name)(logits, torch.cat([WEAK, torch.tensor([[0.9, 0.1]])]), 0.5).backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def test_unknown_loss_and_param_are_errors():
    with pytest.raises(ConfigError, match="unknown loss"):
        get_loss("nope")
    with pytest.raises(ConfigError, match="no parameter"):
        get_loss("logconf", alpha=1.0)
    with pytest.raises(ConfigError, match="must be a number"):
        get_loss("logconf", alpha_max="high")


def test_calibrated_transition_hand_value_and_limits():
    # E[t t^T] / E[t]: class 0 mass .8, row 0 = (.2*.2 + .6*.6, .2*.8 + .6*.4) / .8 = (.5, .5)
    # class 1 mass 1.2, row 1 = (.2*.8 + .6*.4, .8*.8 + .4*.4) / 1.2 = (1/3, 2/3)
    t = calibrated_transition(WEAK)
    assert torch.allclose(t, torch.tensor([[0.5, 0.5], [1 / 3, 2 / 3]]), atol=1e-6)
    assert torch.allclose(calibrated_transition(torch.eye(2)), torch.eye(2))  # gold labels: no noise
    assert torch.allclose(calibrated_transition(torch.tensor([[1.0, 0.0]])), torch.eye(2))  # absent class: identity row


def test_forward_hand_value_and_gold_limit():
    # noisy probs p^T T: [.25,.75] -> (.25*.5 + .75/3, .25*.5 + .75*2/3) = (.375, .625); [.75,.25] -> (.458.., .541..)
    a = _ce([0.2, 0.8], [0.375, 0.625])
    b = _ce([0.6, 0.4], [0.75 * 0.5 + 0.25 / 3, 0.75 * 0.5 + 0.25 * 2 / 3])
    assert get_loss("forward")(LOGITS, WEAK, 0.5).item() == pytest.approx((a + b) / 2, rel=1e-6)
    onehot = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    assert get_loss("forward")(LOGITS, onehot, 0.5).item() == pytest.approx(
        get_loss("xent")(LOGITS, onehot, 0.5).item(), rel=1e-6
    )
