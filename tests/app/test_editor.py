"""The node editor, palette, inspector and undo stack, driven through the real widgets."""
from __future__ import annotations

import json

from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest

from studio.app import specs
from studio.app.fields import TextField
from studio.core.pipeline import Pipeline
from tests.app.conftest import click, drag


def port_pos(win, nid, direction):
    return win.scene.nodes[nid].port(direction).scenePos()


def add_from_palette(win, qtbot, ntype, kind):
    item = win.palette.item_for(ntype, kind)
    assert item is not None, f"{ntype} {kind} missing from the palette"
    tree = win.palette.tree
    win.docks["palette"].raise_()
    qtbot.waitUntil(tree.isVisible)
    tree.scrollToItem(item)
    rect = tree.visualItemRect(item)
    before = set(win.doc.nodes)
    # a click first: item views act on a double-click that follows a press on the same item
    QTest.mouseClick(tree.viewport(), Qt.LeftButton, Qt.NoModifier, rect.center())
    QTest.mouseDClick(tree.viewport(), Qt.LeftButton, Qt.NoModifier, rect.center())
    added = set(win.doc.nodes) - before
    assert len(added) == 1
    return added.pop()


def test_default_pipeline_is_ready(win):
    assert win.doc.problem() is None
    assert {n.type for n in win.doc.nodes.values()} == {"process", "network", "solver"}
    net = win.doc.nodes["network"]
    assert net.kind == "gmm"
    # the default pipeline is what the engine builds and runs
    Pipeline.from_dict(win.doc.to_dict()).build()


def test_add_link_invalid_link_edit_undo(win, qtbot):
    nid = add_from_palette(win, qtbot, "solver", "euler")
    win.doc.move_nodes({nid: (540.0, 220.0)})
    win.view.fit()
    # an invalid link: a process output into a solver input is refused, with the reason shown
    drag(win.view, port_pos(win, "process", "out"), port_pos(win, nid, "in"))
    assert ("process", nid) not in win.doc.links
    assert "process output connects to: network" in win.statusBar().currentMessage()
    assert "link refused" in win.log.text()
    # a valid link: network -> euler
    drag(win.view, port_pos(win, "network", "out"), port_pos(win, nid, "in"))
    assert ("network", nid) in win.doc.links
    assert win.doc.problem() is None

    # select the new node by clicking it; the inspector shows its form
    item = win.scene.nodes[nid]
    click(win.view, item.scenePos() + QPointF(100, 50))
    assert win.scene.selected_ids() == [nid]
    assert win.inspector.node_id == nid
    field = win.inspector.fields["steps"]
    assert isinstance(field, TextField)
    # typed values are validated as typed: a non-integer is refused and marked
    field.edit.setFocus()
    field.edit.selectAll()
    QTest.keyClicks(field.edit, "abc")
    QTest.keyClick(field.edit, Qt.Key_Return)
    assert field.error and "steps" not in win.doc.nodes[nid].params
    field.edit.selectAll()
    QTest.keyClicks(field.edit, "0")
    QTest.keyClick(field.edit, Qt.Key_Return)
    assert "minimum" in field.error
    field.edit.selectAll()
    QTest.keyClicks(field.edit, "12")
    QTest.keyClick(field.edit, Qt.Key_Return)
    assert field.error is None
    assert win.doc.nodes[nid].params["steps"] == 12
    assert "steps = 12" in win.scene.nodes[nid].lines
    # undo (Ctrl+Z through the Edit menu's action) restores it
    win.undo_action.trigger()
    assert "steps" not in win.doc.nodes[nid].params
    assert win.inspector.fields["steps"].edit.text() == ""
    win.redo_action.trigger()
    assert win.doc.nodes[nid].params["steps"] == 12
    # undo everything back to the default pipeline
    while win.doc.undo_stack.canUndo():
        win.doc.undo_stack.undo()
    assert nid not in win.doc.nodes and nid not in win.scene.nodes


def test_schedule_change_drops_stale_schedule_params(win):
    sid = "dpm-solver++-2m"
    win.scene.select([sid])
    assert "rho" in win.inspector.fields          # karras' own parameter
    win.inspector._commit("rho", 5.0)
    combo = win.inspector.fields["schedule"]
    combo.combo.activated.emit(combo.values.index("uniform"))
    params = win.doc.nodes[sid].params
    assert params["schedule"] == "uniform" and "rho" not in params
    assert win.doc.problem() is None
    win.doc.undo_stack.undo()
    assert win.doc.nodes[sid].params["rho"] == 5.0


def test_move_delete_copy_paste_undo(win, qtbot):
    item = win.scene.nodes["network"]
    start = tuple(win.doc.nodes["network"].pos)
    grab = item.scenePos() + QPointF(100, 8)
    drag(win.view, grab, grab + QPointF(40, 60))
    moved = win.doc.nodes["network"].pos
    assert moved != start
    win.undo_action.trigger()
    assert tuple(win.doc.nodes["network"].pos) == start

    win.scene.select(["network", "dpm-solver++-2m"])
    assert win.view.copy()
    new = win.view.paste()
    assert len(new) == 2
    # the link between the copied nodes comes along
    assert any(a in new and b in new for a, b in win.doc.links)
    win.undo_action.trigger()
    assert set(win.doc.nodes) == {"process", "network", "dpm-solver++-2m"}

    win.scene.select(["network"])
    win.view.setFocus()
    QTest.keyClick(win.view, Qt.Key_Delete)
    assert "network" not in win.doc.nodes and win.doc.links == []
    win.undo_action.trigger()
    assert win.doc.links == [("process", "network"), ("network", "dpm-solver++-2m")]
    assert len(win.scene.links) == 2


def test_context_menu_lists_every_registered_kind(win):
    menu = win.view.build_menu(None, QPointF(0, 0))
    titles = {a.text(): a for a in menu.actions()}
    for ntype in specs.TYPES:
        sub = titles[f"Add {ntype}"].menu()
        listed = [a.text() for a in sub.actions()]
        for kind in specs.kinds(ntype):
            assert any(t.endswith(f"({kind})") for t in listed), (ntype, kind)


def test_every_kind_gets_a_form(win):
    """Forms are generated from the engine's declarations for every registered kind."""
    win.doc.add_node("guidance", specs.kinds("guidance")[0]) if specs.kinds("guidance") else None
    for ntype in specs.TYPES:
        ids = win.doc.of_type(ntype)
        if not ids:
            continue
        nid = ids[0]
        for kind in specs.kinds(ntype):
            win.doc.set_kind(nid, kind)
            win.scene.select([nid])
            win.inspector._rebuild()
            shown = set(win.inspector.fields)
            assert {s.name for s in specs.specs(ntype, kind)} <= shown


def test_save_reload_round_trip(win, tmp_path):
    win.doc.set_param("dpm-solver++-2m", "steps", 9)
    win.doc.move_nodes({"network": (300.0, 40.0)})
    path = tmp_path / "p.json"
    assert win.save_to(str(path))
    data = json.loads(path.read_text())
    assert data["ui"]["positions"]["network"] == [300.0, 40.0]
    # what the editor saves, the engine runs unchanged
    pipe = Pipeline.load(str(path))
    assert pipe.nodes["dpm-solver++-2m"].params["steps"] == 9
    win.doc.new()
    assert win.open_path(str(path))
    assert win.doc.to_dict() == data
    assert tuple(win.scene.nodes["network"].pos().toTuple()) == (300.0, 40.0)
    assert win.doc.undo_stack.isClean()
    # and the reverse: a pipeline written for `studio run` (no "ui") opens and is laid out
    data.pop("ui")
    path2 = tmp_path / "plain.json"
    path2.write_text(json.dumps(data))
    assert win.open_path(str(path2))
    assert len({n.pos for n in win.doc.nodes.values()}) == 3


def test_malformed_or_incompatible_file_leaves_canvas_untouched(win, tmp_path):
    win.doc.set_param("dpm-solver++-2m", "steps", 7)
    before = win.doc.to_dict()
    cases = {
        "broken.json": ('{"format": "studio.pipeline/1", "nodes": {', "line 1"),
        "kind.json": (json.dumps({"format": "studio.pipeline/1", "nodes": {
            "p": {"type": "process", "kind": "no-such-process"}}}), "no-such-process"),
        "link.json": (json.dumps({"format": "studio.pipeline/1", "nodes": {
            "p": {"type": "process", "kind": "edm"},
            "s": {"type": "solver", "kind": "euler"}}, "links": [["p", "s"]]}), "cannot link"),
        "param.json": (json.dumps({"format": "studio.pipeline/1", "nodes": {
            "s": {"type": "solver", "kind": "euler", "params": {"steps": "many"}}}}), "'s'"),
    }
    for name, (text, expect) in cases.items():
        p = tmp_path / name
        p.write_text(text)
        assert not win.open_path(str(p))
        assert expect in win.log.entries[-1][2], win.log.entries[-1]
        assert name in win.log.entries[-1][2]
        assert win.doc.to_dict() == before
        assert set(win.scene.nodes) == set(before["nodes"])
    assert not win.open_path(str(tmp_path / "missing.json"))
    assert win.doc.to_dict() == before


def test_incomplete_draft_saves_and_reopens(win, tmp_path):
    win.doc.remove_nodes(["dpm-solver++-2m"])
    path = tmp_path / "draft.json"
    assert win.save_to(str(path))
    assert "will refuse it" in win.log.entries[-1][2]
    win.doc.new()
    assert win.open_path(str(path))
    assert win.doc.of_type("solver") == []
    assert not win.run()
    assert "no solver node" in win.log.entries[-1][2]


def test_example_pipelines_open_in_the_editor(win):
    from studio.app.resources import example_files
    files = example_files()
    if not files:
        import pytest
        pytest.skip("no example pipelines installed")
    for path in files:
        assert win.open_path(str(path)), win.log.entries[-1]
        assert set(win.scene.nodes) == set(win.doc.nodes)
        # what the editor holds is what the engine reads (plus positions under "ui")
        engine = Pipeline.load(str(path), strict=False).to_dict()
        mine = win.doc.to_dict()
        assert {k: v for k, v in mine.items() if k != "ui"} == \
            {k: v for k, v in engine.items() if k != "ui"}
    # File > Examples lists every example file (titled, featured ones first; comfort.examples)
    listed = [a.data() for a in win.menus.examples.actions() if a.data()]
    assert sorted(listed) == sorted(str(p) for p in files)
