"""The live trajectory views stay cheap for the UI thread: a fixed random subset of the particles is
drawn, the worker thread prepares bounds and spread, branches repaint in turn, views are reused."""
from __future__ import annotations

import numpy as np

from studio.app.runstate import DRAW_POINTS, draw_subset, finite_box, spread_box
from studio.app.views.branch import PointsView
from tests.app.conftest import set_small


def test_draw_subset_is_a_fixed_random_subset():
    assert draw_subset(DRAW_POINTS, 3) is None                   # few particles: all are drawn
    a, b = draw_subset(5 * DRAW_POINTS, 7), draw_subset(5 * DRAW_POINTS, 7)
    np.testing.assert_array_equal(a, b)                         # the same for the same seed
    assert len(a) == DRAW_POINTS and np.all(np.diff(a) > 0) and a[-1] < 5 * DRAW_POINTS
    assert a[-1] > 4 * DRAW_POINTS                              # spread over the batch, not a prefix
    assert not np.array_equal(a, draw_subset(5 * DRAW_POINTS, -7))
    xy = np.array([[0.0, 1.0], [np.nan, 5.0], [2.0, -1.0]])
    assert finite_box(xy) == (0.0, -1.0, 2.0, 1.0)
    assert finite_box(np.full((2, 2), np.inf)) is None and spread_box(np.zeros((0, 2))) is None


def test_a_large_run_draws_a_subset_and_zooms_on_every_particle(win, qtbot):
    n = DRAW_POINTS + 1500
    set_small(win, batch=n, steps=4)
    nid = win.doc.add_node("solver", "euler", {"steps": 4}, (540, 200))
    win.doc.link("network", nid)
    # the plots of both branches are made while the user edits, not when the run starts
    qtbot.waitUntil(lambda: len(win.panel.point_views()) >= 2, timeout=20000)
    made = set(map(id, win.panel.point_views()))
    with qtbot.waitSignal(win.runFinished, timeout=60000) as blocker:
        win.run()
    assert blocker.args[0] == "finished"
    views = dict(win.panel.views)
    assert set(map(id, views.values())) <= made
    assert len(views) == 2 and all(isinstance(v, PointsView) for v in views.values())
    idx = draw_subset(n, win.doc.run.seed)
    for b, res in win.state.results().items():
        samples = res.samples.numpy()
        frames = win.state.frames(b)
        assert all(len(f.xy) == DRAW_POINTS for f in frames)
        last = frames[-1]
        # the drawn particles are the subset of the samples, the same ones at every step
        np.testing.assert_allclose(last.xy, samples[idx], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(win.panel.displayed_points(b), samples[idx], rtol=1e-5,
                                   atol=1e-5)
        # bounds of the drawn points; the spread (what Follow zooms to) over all of them
        assert last.box == finite_box(last.xy)
        lo, hi = np.percentile(samples, [1, 99], axis=0)
        np.testing.assert_allclose(last.spread, (lo[0], lo[1], hi[0], hi[1]), rtol=1e-4)
        assert views[b].particles.dataBounds(0) == (last.box[0], last.box[2])

    # live updates repaint one branch view each, in turn
    win.panel.live = True
    painted = []
    for _ in range(4):
        win.panel.on_updated()
        painted += win.panel.painted
    win.panel.live = False
    assert len(painted) == 4 and set(map(id, painted)) == set(map(id, views.values()))
    assert win.panel.cost_ms() >= 0.0

    # the next run reuses the plots instead of making new ones
    with qtbot.waitSignal(win.runFinished, timeout=60000):
        win.run()
    assert set(map(id, win.panel.views.values())) == set(map(id, views.values()))
