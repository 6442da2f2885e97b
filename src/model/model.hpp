#pragma once

// The whole unified model.

#include "model/common.hpp"
#include "model/hash.hpp"
#include "model/host.hpp"
#include "model/installed_package.hpp"
#include "model/package.hpp"
#include "model/vulnerability.hpp"
#include "model/vulnerability_definition.hpp"
