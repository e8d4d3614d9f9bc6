"""The model of a rendered environment: objects as the API server stores them and KubeRay reads them."""
