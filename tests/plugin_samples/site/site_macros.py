"""The sample site's macros: one that works and one that fails, for macro errors."""


def define_env(env):
    @env.macro
    def shout(text):
        return text.upper()

    @env.macro
    def broken():
        raise ValueError("the sample macro fails on purpose")
