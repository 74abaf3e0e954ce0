package app

import "k8s.io/apimachinery/pkg/api/meta"

type mapperT = meta.RESTMapper
