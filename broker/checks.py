from django.core.checks import Error, register


@register()
def check_operations(app_configs, **kwargs):
    """broker.E001: every operation declaration is consistent with the scope catalog."""
    from broker.adapters import validate

    return [
        Error(problem, hint="Fix the declaration in broker/adapters/.", id="broker.E001")
        for problem in validate()
    ]
