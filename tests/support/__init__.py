"""Helpers the tests import (not pytest plugins): output parsers, polling."""
