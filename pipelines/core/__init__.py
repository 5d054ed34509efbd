"""Plain-Python decisions of HintQ: no Beam, no Airflow imports; unit-tested directly."""
