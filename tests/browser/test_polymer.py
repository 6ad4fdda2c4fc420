"""A 0.9.x-style Polymer 3 element bound two-way to <redwood-decision>.

0.9.x games are PolymerElement subclasses whose templates bind
`my-decision="{{myDecision}}"` and `group-decisions="{{groupDecisions}}"`.
Polymer's two-way bindings set the child's property, and listen for
`<prop>-changed` events with `detail.value`.  The element is written for the
test and injected into the demo's real Decide page (Polymer from the vendored
copy), one per participant.
"""
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

POLYMER = "/static/otree-redwood/node_modules/@polymer/polymer/polymer-element.js"

MY_GAME = """
import {PolymerElement, html} from '%s';

class MyGame extends PolymerElement {
  static get template() {
    return html`
      <redwood-decision id="decision" initial-decision=INITIAL
          my-decision="{{myDecision}}" group-decisions="{{groupDecisions}}"
          other-decision="{{otherDecision}}"></redwood-decision>
      <p>Mine: <span id="mine">[[myDecision]]</span></p>
      <p>Other: <span id="other">[[otherDecision]]</span></p>
      <p>Group: <span id="group">[[_show(groupDecisions)]]</span></p>`;
  }

  static get properties() {
    return {
      initialDecision: {type: Number, value: 0.5},
      myDecision: {type: Number, notify: true},
      groupDecisions: {type: Object, observer: '_groupDecisionsChanged'},
      otherDecision: {type: Number},
      updates: {type: Number, value: 0},
    };
  }

  _groupDecisionsChanged(value) {
    if (value) this.updates += 1;
  }

  _show(groupDecisions) {
    if (!groupDecisions) return '';
    return Object.keys(groupDecisions).sort()
      .map((k) => k + '=' + groupDecisions[k]).join(' ');
  }
}

customElements.define('my-game', MyGame);
""" % POLYMER


def _mount(player, initial="[[initialDecision]]"):
    """Inject <my-game> into the page, once the element is defined.

    `initial`: the initial-decision attribute in the template, a binding
    (set by Polymer after it has set up its listeners) or a literal.
    """
    player.page.add_script_tag(type="module", content=MY_GAME.replace("INITIAL", '"%s"' % initial))
    player.wait("() => customElements.get('my-game') !== undefined")
    player.js("() => { const g = document.createElement('my-game'); g.id = 'game';"
              " document.body.appendChild(g); }")


def _game(player, expression):
    """Evaluate `expression` with `game` (the element) and `root` (its shadow root)."""
    return player.js("() => { const game = document.getElementById('game');"
                     " const root = game.shadowRoot; return (%s); }" % expression)


def _wait_game(player, expression, timeout=10000):
    player.wait("() => { const game = document.getElementById('game');"
                " if (!game || !game.shadowRoot) return false;"
                " const root = game.shadowRoot; return (%s); }" % expression, timeout=timeout)


def test_polymer_element_binds_two_way_to_redwood_decision(make_session, server, players):
    session, ((group_pk, (a, b)),) = make_session("decision_demo", 2, period_length=60)
    srv = server()
    pa, pb = players.open(srv, a), players.open(srv, b)
    for p in (pa, pb):
        p.wait_running()
        _mount(p)
        # initial-decision flows up through {{myDecision}}; the first map
        # (both at 0.5) through {{groupDecisions}}, and is rendered
        _wait_game(p, "game.myDecision === 0.5")
        _wait_game(p, "game.groupDecisions && Object.keys(game.groupDecisions).length === 2")
        assert _game(p, "root.getElementById('mine').textContent") == "0.5"
        assert _game(p, "root.getElementById('group').textContent") == " ".join(
            "%s=0.5" % c for c in sorted((a, b)))

    # Setting the Polymer property sends the decision: b's element sees it
    _game(pa, "(game.myDecision = 0.9, 0)")
    assert _game(pa, "root.getElementById('decision').myDecision") == 0.9  # bound down
    assert _game(pa, "root.getElementById('mine').textContent") == "0.9"
    _wait_game(pb, "game.groupDecisions[%r] === 0.9" % a)
    _wait_game(pb, "game.otherDecision === 0.9")
    _wait_game(pb, "root.getElementById('other').textContent === '0.9'")
    assert "%s=0.9" % a in _game(pb, "root.getElementById('group').textContent")
    # ... and a's own element gets the server's map with it
    _wait_game(pa, "game.groupDecisions[%r] === 0.9" % a)

    # b's decision, from b's element, updates a's bound groupDecisions
    updates = _game(pa, "game.updates")
    _game(pb, "(game.myDecision = 0.15, 0)")
    _wait_game(pa, "game.groupDecisions[%r] === 0.15" % b)
    _wait_game(pa, "root.getElementById('other').textContent === '0.15'")
    assert _game(pa, "game.updates") > updates  # the observer ran: a new object, not a mutation
    assert _game(pa, "root.getElementById('group').textContent") == " ".join(
        "%s=%s" % (c, {a: 0.9, b: 0.15}[c]) for c in sorted((a, b)))
    # the server has both; a's bound myDecision did not move
    assert _game(pa, "game.myDecision") == 0.9
    _wait_game(pb, "root.getElementById('decision').myCurrentDecision === 0.15")
    assert pa.errors == [] and pb.errors == []


def test_polymer_host_gets_a_literal_initial_decision(make_session, server, players):
    session, ((group_pk, (a, b)),) = make_session("decision_demo", 2, period_length=60)
    srv = server()
    pa = players.open(srv, a)
    pa.wait_connected()
    _mount(pa, initial="0.5")
    assert _game(pa, "root.getElementById('decision').myDecision") == 0.5
    pa.page.wait_for_timeout(300)
    assert _game(pa, "game.myDecision") == 0.5
