"""Finding an app's name and its hooks in both oTree 6 app formats.

oTree 6 runs apps in two formats.  In the models.py/pages.py format, hooks
are methods (``def period_length(self):``).  In the single-file format
(``__init__.py`` holding ``C``, the models and the pages), oTree's own style is
a module-level function taking the object (``def creating_session(subsession):``)
and oTree calls it through ``get_user_defined_target()``.  A redwood hook such
as ``period_length`` or ``_on_<channel>_event`` may be written either way in a
single-file app, so we look on the app's module first (only for single-file
apps, where oTree looks too), then on the class, where our bases define the
defaults.

oTree internals: ``otree/database.py`` ``AnyModel.get_folder_name()`` (the app
name: first component of the class's module) and ``SPGModel.is_noself`` (set
per app by ``init_orm`` from ``otree/common.py`` ``is_noself(app)``), and
``otree/common.py`` ``get_models_module(app)``.
"""
import inspect


def app_name_of(model):
    """The oTree app a Player, Group or Subsession (instance or class) belongs to."""
    cls = model if isinstance(model, type) else type(model)
    return cls.get_folder_name()


def find_hook(obj, name):
    """A callable for hook ``name`` of ``obj`` taking no argument, or None.

    A module-level ``def name(group, ...)`` of a single-file app wins over a
    method, so that the app's definition overrides our base's default.
    """
    cls = type(obj)
    if getattr(cls, "is_noself", False):
        from otree.common import get_models_module

        module = get_models_module(app_name_of(cls))
        fn = module.__dict__.get(name)
        if inspect.isfunction(fn):
            return lambda *args, **kwargs: fn(obj, *args, **kwargs)
    try:
        method = getattr(obj, name, None)
    except TypeError:  # oTree 6 raises it for a NULL column of that name
        return None
    return method if callable(method) else None


def call_hook(obj, name, *args, default=None):
    """Call hook ``name`` if the app or our base defines it; ``default`` otherwise."""
    fn = find_hook(obj, name)
    return default if fn is None else fn(*args)
