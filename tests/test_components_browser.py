"""The 0.9.x components inside a Polymer 3 element, two participants, real Chromium.

tests/legacy_apps/legacy_components's page is a PolymerElement (Polymer from
the vendored node_modules) whose shadow DOM holds <otree-constants>,
<redwood-period>, <redwood-decision> and <redwood-channel>, bound the way
0.9.x experiments bind them: `{{...}}` two-way bindings (Polymer sets the
child's property and listens for `<prop>-changed`), `on-event`,
`on-period-start`, `on-group-decisions-changed`, `this.$.constants`.
"""
import pytest

from tests.test_legacy_browser import CHROMIUM_ARGS, chromium, open_tab  # noqa: F401 (fixture)

APP = "legacy_components"

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


async def test_polymer_bindings_to_the_components_in_both_directions(chromium, server, make_session):  # noqa: F811
    from playwright.async_api import async_playwright

    session, ((_group_pk, (a, b)),) = make_session(APP, 2)
    srv = server()
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            ta = await open_tab(browser, srv, a)
            tb = await open_tab(browser, srv, b)
            for t, code in ((ta, a), (tb, b)):
                # child -> host: running, the opening map, myCurrentDecision;
                # initial-decision -> myDecision -> the host's myDecision
                await t.wait_game("root.getElementById('running').textContent === 'true'"
                                  " && root.getElementById('members').textContent === '2'"
                                  " && root.getElementById('current').textContent === '0.5'")
                assert await t.game("game.myDecision") == 0.5
                assert await t.game("root.getElementById('mine').textContent") == "0.5"
                assert await t.game("game.otherDecision") == 0.5
                assert await t.game("game.periodStarts") == 1
                # <otree-constants>: this.$.constants in ready(), and its binding
                assert await t.game("game.codeAtReady") == code
                assert await t.game("game.myCode") == code
                assert await t.game("game.idInGroup") in ("1", "2")

            # host -> child: setting the Polymer property sends the decision
            await ta.game("(game.myDecision = 0.8, 0)")
            assert await ta.game("root.getElementById('decision').myDecision") == 0.8
            # ... and the other page's bindings get it from the server's map
            await tb.wait_game("game.otherDecision === 0.8 && root.getElementById('other').textContent === '0.8'")
            assert await tb.game("game.groupDecisions[arg]", a) == 0.8
            assert await tb.game("game.myDecision") == 0.5  # b's own did not move
            await ta.wait_game("game.myCurrentDecision === 0.8")
            # on-group-decisions-changed: the last call saw the bound map already fresh
            assert await tb.game("game.seen[game.seen.length - 1][arg]", a) == 0.8

            # b moves too, through the child element this time (child -> host)
            await tb.game("(root.getElementById('decision').myDecision = 0.25, 0)")
            assert await tb.game("game.myDecision") == 0.25
            await ta.wait_game("game.otherDecision === 0.25")

            # a <redwood-channel> in the shadow DOM: send, and on-event on both pages
            await tb.game("game.say('hello')")
            for t in (ta, tb):
                await t.wait_game("root.getElementById('message').textContent === arg", "%s: hello" % b)
                # `event` bubbles out of the components' shadow roots, as in 0.9.x
                channels = set(await t.game("game.bubbled"))
                assert {"chat", "group_decisions", "state"} <= channels, channels

            assert ta.problems == []
            assert tb.problems == []
        finally:
            await browser.close()


async def _decisions_of(code):
    """The `decisions` values stored for participant `code`, and the group's map, from the database."""
    from otree_redwood.engine import runtime

    def read():
        from legacy_components.models import Group
        from otree_redwood.models import Event

        values = list(Event.objects.filter(channel="decisions", participant__code=code)
                      .order_by("timestamp", "id").values_list("value", flat=True))
        group = Group.objects.get(player__participant__code=code)
        return values, group.group_decisions

    return await runtime.db_sync(read)()


async def test_a_reloaded_page_shows_the_participants_decision_and_resets_nothing(chromium, server, make_session):  # noqa: F811
    from playwright.async_api import async_playwright

    session, ((_group_pk, (a, b)),) = make_session(APP, 2)
    srv = server()
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            ta = await open_tab(browser, srv, a)
            tb = await open_tab(browser, srv, b)
            for t in (ta, tb):
                await t.wait_game("root.getElementById('running').textContent === 'true'"
                                  " && root.getElementById('members').textContent === '2'")
                # 0.9.x rendered oTree.idInGroup as a string; the members' id_in_group are numbers
                assert await t.page.evaluate("typeof window.oTree.idInGroup") == "string"
                assert await t.page.evaluate("window.oTree.group.players.map((p) => typeof p.id_in_group)") \
                    == ["number", "number"]
            # loading the pages stored no decision (0.9.x sent the initial one from each)
            assert (await _decisions_of(a))[0] == []

            await ta.game("(game.myDecision = 0.8, 0)")
            await tb.wait_game("game.otherDecision === 0.8")
            await ta.wait_game("game.myCurrentDecision === 0.8")

            # a reloads mid-period (the period lasts 60 s)
            await ta.page.reload()
            await ta.wait_game("root.getElementById('running').textContent === 'true'"
                               " && root.getElementById('current').textContent === '0.8'")
            # the page shows the decision from before the reload, not initial-decision's 0.5
            await ta.wait_game("game.myDecision === 0.8 && root.getElementById('mine').textContent === '0.8'")
            assert await ta.game("root.getElementById('decision').myDecision") == 0.8

            # whatever the reloaded page sent reached the server before this chat
            # message did (one socket's frames are handled in order)
            await ta.game("game.say('after reload')")
            for t in (ta, tb):
                await t.wait_game("root.getElementById('message').textContent === arg", "%s: after reload" % a)
            values, group_decisions = await _decisions_of(a)
            assert values == [0.8], "no decision with the initial value was stored"
            assert group_decisions[a] == 0.8
            assert await tb.game("game.otherDecision") == 0.8

            # and the reloaded page still sends what the participant chooses
            await ta.game("(game.myDecision = 0.3, 0)")
            await tb.wait_game("game.otherDecision === 0.3")
            assert (await _decisions_of(a))[0] == [0.8, 0.3]

            assert ta.problems == []
            assert tb.problems == []
        finally:
            await browser.close()
